"""Reading one user's roster from Clever, before anything is written.

Worker threads send the requests and never touch the database, whose Flask-SQLAlchemy session
belongs to the calling thread; they touch nothing but the progress counter.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import current_app

from clever.api import CleverAPI, CleverAPIError

if TYPE_CHECKING:
    from clever.sync.runs import Progress

# Best-effort lookups (school, district, the user's own record) tolerate these.
OPTIONAL_KINDS = frozenset({"unauthorized", "forbidden", "not_found"})


def make_api(token: str) -> CleverAPI:
    """A Clever API client configured from the app (timeouts, retries, rate-limit patience)."""
    config = current_app.config
    return CleverAPI(
        config["CLEVER_API_BASE_URL"],
        token,
        timeout=config["CLEVER_HTTP_TIMEOUT"],
        max_retries=config["CLEVER_MAX_RETRIES"],
        backoff=config["CLEVER_RETRY_BACKOFF"],
        max_backoff=config["CLEVER_MAX_BACKOFF"],
        requests_per_minute=config["CLEVER_REQUESTS_PER_MINUTE"],
        max_rate_limit_wait=config["CLEVER_MAX_RATE_LIMIT_WAIT"],
    )


@dataclass
class Snapshot:
    """Everything one sync read from Clever, before anything is written."""

    sections: list[dict[str, Any]] = field(default_factory=list)
    # section clever id -> the users read for it (teacher sync: everyone; student: teachers)
    members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    district: dict[str, Any] | None = None
    school: dict[str, Any] | None = None


def _optional(call: Callable[[str], dict[str, Any]], object_id: str) -> dict[str, Any] | None:
    """Best-effort lookups: a Library token is refused school and district data."""
    try:
        return call(object_id)
    except CleverAPIError as error:
        if error.kind in OPTIONAL_KINDS:
            return None
        raise


def _school_id_of(profile: dict[str, Any]) -> str | None:
    roles = profile.get("roles") or {}
    for role in ("teacher", "student"):
        school = (roles.get(role) or {}).get("school")
        if isinstance(school, str) and school:
            return school
    return None


class RosterReader:
    """Reads one user's roster with at most ``concurrency`` requests in flight.

    Requests are chained only where one needs the other's answer (sections before their
    users; the user's record before its school and district), so wall time follows the
    longest chain rather than the number of sections. ``start`` sends the first requests and
    returns at once, so the caller's bookkeeping overlaps the wait; ``finish`` (in the
    caller's thread, which may read the database meanwhile) collects everything.
    """

    def __init__(
        self,
        api: CleverAPI,
        clever_id: str,
        *,
        teacher: bool,
        profile: dict[str, Any] | None,
        concurrency: int,
        progress: Progress,
        sections: Future | None = None,
    ) -> None:
        self.prefetched_sections = sections
        self.api = api
        self.clever_id = clever_id
        self.teacher = teacher
        self.profile = profile
        self.progress = progress
        self.pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="sync")
        self.jobs: dict[Future, tuple[str, str | None]] = {}
        self.snap = Snapshot()
        self.sections_read = False
        # School and district wait for the section reads to be queued: the pool is FIFO, and
        # they are off the critical path.
        self.deferred: list[dict[str, Any]] = []

    def _submit(self, kind: str, key: str | None, fn: Callable[..., Any], *args: Any) -> None:
        self.jobs[self.pool.submit(fn, *args)] = (kind, key)

    def start(self) -> None:
        if self.prefetched_sections is not None:
            self.jobs[self.prefetched_sections] = ("sections", None)
        else:
            self._submit("sections", None, self.api.user_sections, self.clever_id)
        if self.profile is None:
            self._submit("profile", None, _optional, self.api.user, self.clever_id)
        else:
            self._organisations_of(self.profile)

    def finish(self, skip: Collection[str]) -> Snapshot:
        """Wait for everything; ``skip``: Clever ids of sections whose users are not read."""
        try:
            while self.jobs:
                done, _ = wait(self.jobs, return_when=FIRST_COMPLETED)
                for job in done:
                    kind, key = self.jobs.pop(job)
                    self._collect(kind, key, job.result(), skip)
        except BaseException:
            self.abandon()
            raise
        self.pool.shutdown()
        return self.snap

    def abandon(self) -> None:
        """Stop queued work; requests in flight end on their own (bounded by timeouts) and
        touch nothing but the progress counter."""
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _collect(self, kind: str, key: str | None, result: Any, skip: Collection[str]) -> None:
        snap = self.snap
        if kind == "sections":
            snap.sections = _unique(result)
            wanted = [s for s in snap.sections if s["id"] not in skip]
            # Biggest first: its later pages then overlap the small sections.
            wanted.sort(key=lambda s: -len(s.get("students") or ()))
            self.progress.set_total(len(wanted))
            for section in wanted:
                self._submit("members", section["id"], self._members_of, section["id"])
            self.sections_read = True
            for record in self.deferred:
                self._organisations_of(record)
        elif kind == "members":
            if result is None:
                snap.sections = [s for s in snap.sections if s["id"] != key]
            else:
                snap.members[key] = result
        elif kind == "profile":
            if result is None:
                pass
            elif self.sections_read:
                self._organisations_of(result)
            else:
                self.deferred.append(result)
        else:
            setattr(snap, kind, result)

    def _members_of(self, section_id: str) -> list[dict[str, Any]] | None:
        try:
            if self.teacher:
                # Role-less: students and co-teachers in one call (half the requests).
                path = f"/v3.0/sections/{quote(section_id, safe='')}/users"
                users = self.api.get_all(path)
            else:
                users = self.api.section_users(section_id, "teacher")
        except CleverAPIError as error:
            if error.kind != "not_found":
                raise
            users = None  # deleted since it was listed: treated as gone, not as a failure
        self.progress.step()
        return users

    def _organisations_of(self, record: dict[str, Any]) -> None:
        district_id, school_id = record.get("district"), _school_id_of(record)
        if isinstance(district_id, str) and district_id:
            self._submit("district", None, _optional, self.api.district, district_id)
        if school_id:
            self._submit("school", None, _optional, self.api.school, school_id)


def _unique(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({record["id"]: record for record in records}.values())
