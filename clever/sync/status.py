"""Recorded runs as the pages see them: the status JSON (/sync/status), the history, the last
sync, and held runs with the teacher's answer to them (confirm or dismiss).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import bindparam, func

from clever import jobs
from clever.sessions import get_redis
from clever.sync.runs import StartResult, SyncStatus, lock_key, progress_key
from clever.upsert import insert_missing
from models import SyncRun, TeacherSectionPreference, User, db

FINISHED = (SyncStatus.OK, SyncStatus.FAILED, SyncStatus.HELD)  # outcomes that still stand
UNDER_WAY = (SyncStatus.QUEUED, SyncStatus.RUNNING)


def last_sync(user: User) -> SyncRun | None:
    """The last sync that refreshed the roster (status ok): "last synced" on the dashboard."""
    return db.session.scalar(
        db.select(SyncRun)
        .filter_by(user_id=user.id, status=SyncStatus.OK)
        .order_by(SyncRun.id.desc())
    )


def latest_result(user: User) -> SyncRun | None:
    """The newest finished sync whose outcome still stands (ok, failed or held)."""
    return db.session.scalar(
        db.select(SyncRun)
        .where(
            SyncRun.user_id == user.id,
            SyncRun.status.in_(FINISHED),
        )
        .order_by(SyncRun.id.desc())
    )


@dataclass(frozen=True)
class LatestRuns:
    """``latest_result``, ``last_sync`` and ``pending_held_run`` of one user, read together."""

    latest: SyncRun | None
    last_ok: SyncRun | None
    held: SyncRun | None
    # The newest run is queued or running: only then may Redis say a sync is under way.
    may_be_running: bool


# Built once: every page reads it (building a statement costs more Python than running it).
_LATEST_RUNS = db.select(SyncRun).where(
    SyncRun.id.in_(
        db.select(func.max(SyncRun.id))
        .where(
            SyncRun.user_id == bindparam("user_id"),
            SyncRun.status.in_((*FINISHED, *UNDER_WAY)),
        )
        .group_by(SyncRun.status)
    )
)


def latest_runs(user: User) -> LatestRuns:
    """The newest ok, failed and held run of the user, and whether a newer one is queued or
    running, in one query (a page needs them all)."""
    found = db.session.scalars(_LATEST_RUNS, {"user_id": user.id})
    runs = {run.status: run for run in found}
    newest = max(runs.values(), key=lambda run: run.id, default=None)
    return LatestRuns(
        latest=max(
            (run for run in runs.values() if run.status in FINISHED),
            key=lambda run: run.id,
            default=None,
        ),
        last_ok=runs.get(SyncStatus.OK),
        held=runs.get(SyncStatus.HELD),
        may_be_running=newest is not None and newest.status in UNDER_WAY,
    )


def sync_history(user: User, limit: int = 20) -> list[SyncRun]:
    return list(
        db.session.scalars(
            db.select(SyncRun).filter_by(user_id=user.id).order_by(SyncRun.id.desc()).limit(limit)
        )
    )


def pending_held_run(user: User) -> SyncRun | None:
    return db.session.scalar(
        db.select(SyncRun)
        .filter_by(user_id=user.id, status=SyncStatus.HELD)
        .order_by(SyncRun.id.desc())
    )


def held_run(user: User, run_id: int) -> SyncRun | None:
    """The user's own run ``run_id`` if it was ever held (any later answer included)."""
    run = db.session.get(SyncRun, run_id)
    if run is None or run.user_id != user.id or run.held_changes is None:
        return None
    return run


def held_changes(run: SyncRun) -> list[dict[str, Any]]:
    try:
        return list(json.loads(run.held_changes or "{}").get("sections", []))
    except ValueError:
        return []


def class_holds(user: User) -> dict[int, dict[str, Any]]:
    """The teacher's classes whose roster the guard keeps as it was, by section id: held for
    review (``state`` "held", the run to review) or kept by the teacher's choice ("kept")."""
    if not user.is_teacher:
        return {}
    kept = db.session.scalars(
        db.select(TeacherSectionPreference.section_id)
        .filter_by(teacher_id=user.id)
        .where(TeacherSectionPreference.kept_shrink.is_not(None))
    )
    return holds_from(kept, pending_held_run(user))


def holds_from(kept: Iterable[int], held: SyncRun | None) -> dict[int, dict[str, Any]]:
    """``class_holds`` from what a page has already read: the ids of the classes whose shrink
    the teacher kept, and the pending held run."""
    holds: dict[int, dict[str, Any]] = {section_id: {"state": "kept"} for section_id in kept}
    for entry in held_changes(held) if held is not None else ():
        holds[entry["section_id"]] = {"state": "held", "run_id": held.id, **entry}
    return holds


def confirm_held(user: User, run: SyncRun) -> StartResult:
    """Apply a held sync: sync again, letting the held classes shrink."""
    shrink = [entry["clever_id"] for entry in held_changes(run)]
    # Answer the run before the sync starts, or the sync would mark it superseded.
    run.status = SyncStatus.CONFIRMED
    db.session.commit()
    result = jobs.start_manual_sync(user, allow_shrink=shrink)
    if result != "started":
        run.status = SyncStatus.HELD
        db.session.commit()
    return result


def dismiss_held(run: SyncRun) -> None:
    """Keep the held classes as they are, and remember each shrink kept, so later syncs keep
    the same shrink without asking (a different one asks again)."""
    for entry in held_changes(run):
        if entry.get("fingerprint"):
            _keep_shrink(run.user_id, entry["section_id"], entry["fingerprint"])
    run.status = SyncStatus.DISMISSED
    db.session.commit()


def _keep_shrink(teacher_id: int, section_id: int, fingerprint: str) -> None:
    # The class's choice row exists since its first sync; insert it should it be missing.
    key = {"teacher_id": teacher_id, "section_id": section_id}
    insert_missing(TeacherSectionPreference, [key | {"selected": True}], tuple(key))
    db.session.execute(
        db.update(TeacherSectionPreference).filter_by(**key).values(kept_shrink=fingerprint)
    )


def run_as_dict(run: SyncRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "trigger": run.trigger,
        "status": run.status,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_ms": run.duration_ms,
        "api_calls": run.api_calls,
        "sections_total": run.sections_total,
        "added": run.added,
        "updated": run.updated,
        "archived": run.archived,
        "restored": run.restored,
        "error": run.error,
    }


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; they were stored in UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    moment = as_utc(moment)
    return moment.isoformat().replace("+00:00", "Z") if moment else None


_UNREAD: Any = object()


def sync_status(
    user: User, latest: SyncRun | None = _UNREAD, *, may_be_running: bool = True
) -> dict[str, Any]:
    """For GET /sync/status: idle, running (with done/total), or the latest outcome.

    ``latest``: the user's ``latest_result`` when the caller has already read it;
    ``may_be_running=False`` (``LatestRuns``: no run queued or running) skips asking Redis."""
    progress: dict[str, str] = {}
    running = False
    if may_be_running:
        pipe = get_redis().pipeline(transaction=False)
        pipe.hgetall(progress_key(user.id))
        pipe.exists(lock_key(user.id))
        try:
            raw, locked = pipe.execute()  # one round trip
            progress = {k.decode(): v.decode() for k, v in raw.items()}
            # A progress hash says "running" after a crash too; the lock (it expires) does not.
            running = progress.get("status") == SyncStatus.RUNNING and bool(locked)
        except redis.RedisError:
            pass  # shown as idle: the latest outcome
    if latest is _UNREAD:
        latest = latest_result(user)

    def number(key: str, default: int) -> int:
        try:
            return int(progress.get(key, default))
        except ValueError:
            return default

    if running:
        status = SyncStatus.RUNNING
        done, total = number("done", 0), number("total", 0)
    elif latest is None:
        status, done, total = "idle", 0, 0
    else:
        status = latest.status
        if progress.get("run_id") == str(latest.id):
            done, total = number("done", 0), number("total", 0)
        else:
            done = total = latest.sections_total
    return {"status": status, "done": done, "total": total, "run": run_as_dict(latest)}
