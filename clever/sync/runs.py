"""One sync run from start to finish: its lock, its progress, its ``SyncRun``, its outcome.

A run takes the user's Redis lock (no second sync of the same user meanwhile), reports its
progress in Redis for /sync/status, reads the roster (``read``), applies it in one transaction
(``apply``) and records a ``SyncRun``. Any failure rolls everything back and records a failed
run in its own commit. A manual sync runs the same way in a worker (``clever.jobs``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import redis
from flask import current_app
from sqlalchemy import exc as sa_exc

from clever import metrics, roster, upsert
from clever.api import CleverAPIError
from clever.sessions import get_redis
from clever.sync.access import ReadPlan, RosterAccess, access_for
from clever.sync.apply import Apply, Counts, apply_or_hold, fresh_organisations, load_outline
from clever.sync.read import NameCache, RosterReader, Snapshot
from clever.tokens import load_token
from models import SyncRun, User, db, utcnow

# The whole package logs as "clever.sync" (not __name__), as the sync always has.
log = logging.getLogger("clever.sync")

PROGRESS_SECONDS = 3600
# Tries of one apply the database aborted for a concurrent transaction (see _apply_and_record).
APPLY_ATTEMPTS = 5
# SyncRun.error of a district login whose district shares no rosters with the app.
NO_ROSTERS = "clever_no_rosters"

StartResult = Literal["started", "busy", "no_token", "not_clever"]


class SyncStatus(StrEnum):
    """``SyncRun.status`` values, stored as these very strings; and how a sync ended."""

    # A manual sync asked for, its job not picked up by a worker yet (the worker makes it
    # running): with ``RUNNING``, what tells a page that a sync may be under way.
    QUEUED = "queued"
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    HELD = "held"
    # A held run the teacher answered, or one a later sync made moot.
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    SUPERSEDED = "superseded"
    # Never stored: another sync of the same user held the lock.
    SKIPPED = "skipped"


@dataclass(frozen=True)
class SyncOutcome:
    """How one ``sync_user`` call ended: ok, failed, held or skipped."""

    status: SyncStatus
    run_id: int | None  # the recorded run; None when skipped or when nothing could be recorded
    error: str | None = None  # a short code (see error_code): no personal data, no tokens
    sections_total: int = 0
    added: int = 0
    updated: int = 0
    archived: int = 0
    restored: int = 0
    api_calls: int = 0
    duration_ms: int | None = None

    @classmethod
    def of(cls, run: SyncRun) -> SyncOutcome:
        return cls(
            status=SyncStatus(run.status),
            run_id=run.id,
            error=run.error,
            sections_total=run.sections_total or 0,
            added=run.added or 0,
            updated=run.updated or 0,
            archived=run.archived or 0,
            restored=run.restored or 0,
            api_calls=run.api_calls or 0,
            duration_ms=run.duration_ms,
        )

    @property
    def failed(self) -> bool:
        return self.status == SyncStatus.FAILED

    @property
    def skipped(self) -> bool:
        return self.status == SyncStatus.SKIPPED

    @property
    def held(self) -> bool:
        return self.status == SyncStatus.HELD


# -- locking and progress (Redis: shared by every app instance) ----------------------------------


def lock_key(user_id: int) -> str:
    return f"sync:lock:{user_id}"


def progress_key(user_id: int) -> str:
    return f"sync:progress:{user_id}"


def _lock(user_id: int) -> redis.lock.Lock:
    # Not thread-local: a manual sync takes the lock in the request and its worker releases it.
    return get_redis().lock(
        lock_key(user_id),
        timeout=current_app.config["SYNC_LOCK_SECONDS"],
        blocking=False,
        thread_local=False,
    )


def acquire_lock(user_id: int) -> redis.lock.Lock | None:
    """``SET sync:lock:<user_id> <random> NX EX <SYNC_LOCK_SECONDS>``; None when another sync
    holds it."""
    lock = _lock(user_id)
    return lock if lock.acquire() else None


def lock_token(lock: redis.lock.Lock) -> str:
    """The lock's random value: all a worker needs to act as its holder (never a secret)."""
    return lock.local.token.decode()


def resume_lock(user_id: int, token: str) -> redis.lock.Lock | None:
    """The lock a request took (``token``), in the worker that runs its sync.

    Still ours: its lifetime starts again. Expired meanwhile (a long queue, or a retry after the
    first worker died): taken again with the same token, unless another sync holds it (None).
    """
    lock = _lock(user_id)
    lock.local.token = token.encode()
    try:
        lock.reacquire()
        return lock
    except redis.exceptions.LockError:
        return lock if lock.acquire(token=token) else None


def release_lock(lock: redis.lock.Lock) -> None:
    try:
        lock.release()
    except redis.exceptions.LockError:
        log.warning("sync lock had already expired")  # the sync outlived SYNC_LOCK_SECONDS
    except redis.RedisError:
        log.warning("could not release the sync lock; it expires on its own")


class Progress:
    """A hash per user (``sync:progress:<user_id>``) that /sync/status reads.

    Best effort: a Redis hiccup must never fail a sync, so errors are logged and dropped.
    Worker threads call ``step`` (the client is thread-safe and needs no app context).
    """

    def __init__(self, client: redis.Redis, user_id: int) -> None:
        self.client = client
        self.key = progress_key(user_id)

    def _do(self, fn: Callable[[redis.client.Pipeline], Any]) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            fn(pipe)
            pipe.expire(self.key, PROGRESS_SECONDS)
            pipe.execute()
        except redis.RedisError:
            log.warning("could not update sync progress")

    def start(self) -> None:
        mapping = {"status": SyncStatus.RUNNING, "done": 0, "total": 0, "run_id": ""}
        self._do(lambda pipe: pipe.hset(self.key, mapping=mapping))

    def set_total(self, total: int) -> None:
        self._do(lambda pipe: pipe.hset(self.key, "total", total))

    def step(self, count: int = 1) -> None:
        self._do(lambda pipe: pipe.hincrby(self.key, "done", count))

    def finish(self, outcome: SyncOutcome) -> None:
        mapping = {"status": outcome.status, "run_id": outcome.run_id or ""}
        self._do(lambda pipe: pipe.hset(self.key, mapping=mapping))


# -- one sync ------------------------------------------------------------------------------------


def name_cache() -> NameCache:
    """Term and course names, kept as long as district and school records stay fresh."""
    hours = current_app.config["CLEVER_ORGANISATION_MAX_AGE_HOURS"]
    return NameCache(get_redis(), int(hours * 3600))


def reader_inputs(user: User | None, plan: ReadPlan) -> dict[str, Any]:
    """What a roster read takes from the account (None: no account yet): the classes a
    teacher chose not to sync; for a district read, the organisations read today and the
    names cache. ``RosterReader``'s keyword arguments (or ``know``'s)."""
    return {
        "skip": roster.unselected_sections(user) if user is not None and user.is_teacher else (),
        "fresh": fresh_organisations(plan.district_id) if plan.district else (),
        "names": name_cache() if plan.district else None,
    }


def error_code(error: BaseException) -> str:
    """A short code for SyncRun.error: no personal data, no tokens, no response content."""
    if isinstance(error, CleverAPIError):
        return f"clever_{error.kind}" + (f"_{error.status}" if error.status else "")
    if isinstance(error, sa_exc.SQLAlchemyError):
        return "database_error"
    return "internal_error"


def sync_user(
    user: User,
    access: RosterAccess,
    trigger: str,
    *,
    clever_user: dict[str, Any] | None = None,
    allow_shrink: Collection[str] = (),
    lock: redis.lock.Lock | None = None,
    reader: RosterReader | None = None,
    queued_run: int | None = None,
) -> SyncOutcome | None:
    """Sync ``user``'s roster from Clever with the tokens of ``access``; return how it ended.

    Never raises for Clever or database trouble: that becomes a failed run (login goes on).
    Returns None for an account without a Clever id, and a "skipped" outcome (nothing
    recorded) when another sync of this user holds the lock. ``clever_user`` (the login's
    /users/{id} answer) saves one request; ``allow_shrink`` lists Clever section ids whose
    shrink the teacher confirmed; ``lock`` is a lock the caller already holds; ``reader``
    is the login's own read of the roster, started while /users/{id} was on its way;
    ``queued_run``: the row ``queue_run`` made when the sync was asked for.
    """
    if not user.clever_id:
        if reader is not None:
            reader.abandon()
        return None
    own_lock = lock is None
    if own_lock:
        try:
            lock = acquire_lock(user.id)
        except redis.RedisError:
            log.warning("sync of user %s skipped: Redis unavailable for the lock", user.id)
            lock, error = None, "no_lock"
        else:
            error = "sync_in_progress"
            if lock is None:
                log.info("sync of user %s skipped: another sync is running", user.id)
        if lock is None:
            if reader is not None:
                reader.abandon()
            return SyncOutcome(SyncStatus.SKIPPED, None, error=error)
    try:
        return _sync(user, access, trigger, clever_user, allow_shrink, reader, queued_run)
    finally:
        if own_lock:
            release_lock(lock)


class _Stopwatch:
    """The time and the Clever requests a run took, stamped on its row however it ends."""

    def __init__(self, access: RosterAccess, started: RosterReader | None = None) -> None:
        self.access = access
        self.started = time.monotonic()
        # A login's read started before the run: its requests count from the reader's start.
        self.calls_before = access.calls if started is None else started.calls_before

    def stamp(self, run: SyncRun) -> None:
        run.finished_at = utcnow()
        run.duration_ms = int((time.monotonic() - self.started) * 1000)
        run.api_calls = self.access.calls - self.calls_before


class _Read:
    """One read of the roster, started early (the login's, when it started one); read again
    once with a fresh district-app token when the cached one answers 401 (the district
    reconnected, or disconnected)."""

    def __init__(
        self,
        user: User,
        access: RosterAccess,
        clever_user: dict[str, Any] | None,
        started: RosterReader | None,
        progress: Progress,
    ) -> None:
        self.access = access
        self.clever_id = user.clever_id or ""
        self.teacher = user.is_teacher
        self.clever_user = clever_user
        self.progress = progress
        self.reader: RosterReader | None = None
        self.error: CleverAPIError | None = None
        self.user = user
        # A first login's reader learns the role from the same record the account was made
        # from (None: its callback has not run yet), so it reads for the same role.
        if started is not None and started.teacher in (None, self.teacher):
            started.attach(progress)
            self.reader = started
            # Keeps the answer of a token list the login sent beside /me (the read has its token).
            with contextlib.suppress(CleverAPIError):
                access.plan()
            return
        if started is not None:  # read for another role than the account now has: again
            started.abandon()
        try:
            self.reader = self._reader(access.plan())
            self.reader.start()
        except CleverAPIError as error:  # the token list could not be read: a failed run
            self.error = error

    def _reader(self, plan: ReadPlan) -> RosterReader:
        return RosterReader(
            plan,
            self.clever_id,
            teacher=self.teacher,
            profile=self.clever_user,
            concurrency=current_app.config["SYNC_CONCURRENCY"],
            progress=self.progress,
            **reader_inputs(self.user, plan),
        )

    def outline(self) -> Snapshot | None:
        """See ``RosterReader.outline``."""
        return self.reader.outline() if self.reader is not None else None

    def finish(self) -> Snapshot:
        if self.error is not None:
            raise self.error
        assert self.reader is not None
        try:
            return self.reader.finish()
        except CleverAPIError as error:
            if error.kind != "unauthorized" or self.reader.plan.roster is None:
                raise
            plan = self.access.refresh()
            if plan is None:
                raise
            log.info("district-app token refused (401); read again with a fresh one")
            self.reader = self._reader(plan)
            self.reader.start()
            return self.reader.finish()

    def abandon(self) -> None:
        if self.reader is not None:
            self.reader.abandon()


def _sync(
    user: User,
    access: RosterAccess,
    trigger: str,
    clever_user: dict[str, Any] | None,
    allow_shrink: Collection[str],
    started: RosterReader | None = None,
    queued_run: int | None = None,
) -> SyncOutcome:
    stopwatch = _Stopwatch(access, started)
    user_id, role = user.id, user.role  # for the log line, whatever happens to the session
    progress = Progress(get_redis(), user.id)
    progress.start()
    # Clever's first answers are on their way while we do the bookkeeping below (a run row,
    # the teacher's class choices): none of it is roster data, and none of it waits on Clever.
    reader = _Read(user, access, clever_user, started, progress)
    try:
        run = _open_run(user, trigger, queued_run)
    except sa_exc.SQLAlchemyError:
        reader.abandon()
        db.session.rollback()
        log.error("sync of user %s not started: the database refused its run", user_id)
        return SyncOutcome(SyncStatus.FAILED, None, error="database_error")
    run_id = run.id
    outcome = _read_and_apply(user, run, run_id, reader, allow_shrink, stopwatch)
    log.info(
        "sync run %s user %s (%s, %s): %s, %d classes, +%d ~%d -%d restored %d, %d calls, %s ms",
        run_id, user_id, trigger, role, outcome.status, outcome.sections_total,
        outcome.added, outcome.updated, outcome.archived, outcome.restored,
        outcome.api_calls, outcome.duration_ms,
        # Fields of their own in the JSON log lines, for searching by run or user.
        extra={"sync_run_id": run_id, "sync_user_id": user_id},
    )  # fmt: skip
    progress.finish(outcome)
    metrics.observe_sync(trigger, outcome.status, (outcome.duration_ms or 0) / 1000)
    return outcome


def queue_run(user: User, trigger: str) -> int:
    """The row of a sync asked for now and run later by a worker (``QUEUED``), committed."""
    run = SyncRun(user_id=user.id, trigger=trigger, status=SyncStatus.QUEUED, started_at=utcnow())
    db.session.add(run)
    db.session.commit()
    return run.id


def _open_run(user: User, trigger: str, queued_run: int | None = None) -> SyncRun:
    """The run's row, committed at once so /sync/history shows it while it runs: the queued
    row of this sync if it is still queued, else a new one."""
    _close_interrupted_runs(user.id, keep=queued_run)
    run = db.session.get(SyncRun, queued_run) if queued_run is not None else None
    if run is None or run.user_id != user.id or run.status != SyncStatus.QUEUED:
        run = SyncRun(user_id=user.id, trigger=trigger)
        db.session.add(run)
    run.status, run.started_at = SyncStatus.RUNNING, utcnow()
    db.session.commit()
    return run


def _read_and_apply(
    user: User,
    run: SyncRun,
    run_id: int,
    reader: _Read,
    allow_shrink: Collection[str],
    stopwatch: _Stopwatch,
) -> SyncOutcome:
    """Wait for the reads, apply them and record the result together; any failure rolls it all
    back and is recorded as a failed run instead."""
    code: str | None = None
    try:
        outline = _read_outline(user, reader)
        snap = reader.finish()
        _apply_and_record(user, run, run_id, snap, allow_shrink, stopwatch, outline)
        recorded: SyncRun | None = run
    except Exception as error:  # every failure becomes a failed run; the login goes on
        db.session.rollback()
        code = error_code(error)
        if isinstance(error, CleverAPIError):
            log.warning("sync run %s failed: %s", run_id, error)  # safe by construction
        else:
            log.error("sync run %s failed: %s", run_id, code, exc_info=True)
        recorded = _record_failure(run_id, code, stopwatch.stamp)
    if recorded is None:
        # Even the failure could not be written: the caller still learns that the sync failed.
        return SyncOutcome(SyncStatus.FAILED, None, error=code)
    return SyncOutcome.of(recorded)


def _read_outline(user: User, reader: _Read) -> Apply | None:
    """The rows the apply will compare against, read while the read's last answers (records of
    people already named) are on their way; None if the read failed or the database refused
    (the apply then reads them itself, or the run fails as it would have)."""
    outline = reader.outline()
    if outline is None:
        return None
    try:
        return load_outline(user, outline)
    except sa_exc.SQLAlchemyError:
        db.session.rollback()
        return None


def _apply_and_record(
    user: User,
    run: SyncRun,
    run_id: int,
    snap: Snapshot,
    allow_shrink: Collection[str],
    stopwatch: _Stopwatch,
    outline: Apply | None = None,
) -> None:
    """Apply the snapshot and record the result in one transaction. When the database aborts
    it for another one (deadlock, serialization failure, a locked SQLite file, a key taken
    meanwhile), roll back and apply again from a fresh read, a few times, with jittered
    backoff; then the error goes up and the run is recorded as failed. ``outline``: rows read
    ahead in this transaction (``_read_outline``), for the first attempt only."""
    for attempt in range(1, APPLY_ATTEMPTS + 1):
        try:
            counts, held = apply_or_hold(
                user, snap, allow_shrink, outline if attempt == 1 else None
            )
            # Before the run's own fields change: its query would autoflush them in a 2nd UPDATE.
            _supersede_held_runs(user.id, run_id)
            _set_result(run, counts, held, sections_total=len(snap.members))
            if not snap.rosters_shared:
                # Only the district was applied; the classes stay exactly as they were.
                run.status, run.error = SyncStatus.FAILED, NO_ROSTERS
            stopwatch.stamp(run)
            db.session.commit()  # the roster changes and the run's result, together
            return
        except sa_exc.DBAPIError as error:
            if attempt == APPLY_ATTEMPTS or not upsert.is_retryable(error):
                raise
            db.session.rollback()
            log.info("sync run %s met a concurrent transaction; applying again", run_id)
            upsert.pause_before_retry(attempt)


def _set_result(
    run: SyncRun, counts: Counts, held: dict[str, Any] | None, *, sections_total: int
) -> None:
    if held is None:
        run.status = SyncStatus.OK
    else:
        run.status = SyncStatus.HELD
        run.held_changes = json.dumps(held, ensure_ascii=False)
    run.added, run.updated = counts.added, counts.updated
    run.archived, run.restored = counts.archived, counts.restored
    run.sections_total = sections_total


def _record_failure(run_id: int, code: str, stamp: Callable[[SyncRun], None]) -> SyncRun | None:
    try:
        run = db.session.get(SyncRun, run_id)
        if run is None:
            return None
        run.status, run.error = SyncStatus.FAILED, code
        stamp(run)
        db.session.commit()
        return run
    except sa_exc.SQLAlchemyError:
        db.session.rollback()
        log.error("could not record the failure of sync run %s", run_id)
        return None


def _close_interrupted_runs(user_id: int, keep: int | None = None) -> None:
    """We hold the lock, so a running row of this user is a sync whose process died, and a
    queued one other than ``keep`` (this sync's own) a job that never ran."""
    stale = db.session.scalars(
        db.select(SyncRun).where(
            SyncRun.user_id == user_id,
            SyncRun.status.in_((SyncStatus.RUNNING, SyncStatus.QUEUED)),
        )
    ).all()
    for run in stale:
        if run.id != keep or run.status != SyncStatus.QUEUED:
            run.status, run.error = SyncStatus.FAILED, "interrupted"


def _supersede_held_runs(user_id: int, run_id: int) -> None:
    """A newer result (applied or held again) makes an unanswered held run moot."""
    older = db.session.scalars(
        db.select(SyncRun).where(
            SyncRun.user_id == user_id, SyncRun.status == SyncStatus.HELD, SyncRun.id != run_id
        )
    ).all()
    for run in older:
        run.status = SyncStatus.SUPERSEDED


# -- manual sync in the background ----------------------------------------------------------------


def access_of(user: User) -> RosterAccess | None:
    """The tokens a manual sync of ``user`` may use, as their last login left them.

    A district login needs no live user token: the district-app token of its district reads
    the roster. A Library login needs its own token; without one: None (log in again).
    """
    district = user.district.clever_id if user.district is not None else None
    return access_for(user.authorized_by, load_token(user.id), district_id=district)
