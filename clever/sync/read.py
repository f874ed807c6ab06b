"""Reading one user's roster from Clever, before anything is written.

Worker threads send the requests and never touch the database, whose Flask-SQLAlchemy session
belongs to the calling thread; they touch nothing but the progress counter.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app

from clever.api import CleverAPI, CleverAPIError

if TYPE_CHECKING:
    from clever.sync.access import ReadPlan
    from clever.sync.runs import Progress

# Best-effort lookups (school, district, term, course, the user's own record) tolerate these.
OPTIONAL_KINDS = frozenset({"unauthorized", "forbidden", "not_found"})


def make_api(
    token: str, *, page_size: int | None = None, deadline: float | None = None
) -> CleverAPI:
    """A Clever API client configured from the app (timeouts, retries, rate-limit patience).

    ``page_size`` only for a district-app token: user tokens must never send ``limit``.
    ``deadline`` (``time.time()`` value): no request starts and no retry waits past it.
    """
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
        page_size=page_size,
        deadline=deadline,
    )


@dataclass
class Snapshot:
    """Everything one sync read from Clever, before anything is written."""

    sections: list[dict[str, Any]] = field(default_factory=list)
    # section clever id -> the users read for it (teacher sync: everyone; student: teachers)
    members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    district: dict[str, Any] | None = None
    school: dict[str, Any] | None = None
    # District logins only (a Library token is never shown them): by Clever id, the schools,
    # terms and courses the sections name.
    schools: dict[str, dict[str, Any]] = field(default_factory=dict)
    terms: dict[str, dict[str, Any]] = field(default_factory=dict)
    courses: dict[str, dict[str, Any]] = field(default_factory=dict)
    # False: a district login whose district shares no rosters (no district-app token), so
    # nothing but the district itself was read and the classes must stay as they are.
    rosters_shared: bool = True


def _optional(call: Callable[[str], dict[str, Any]], object_id: str) -> dict[str, Any] | None:
    """Best-effort lookups of organisations, terms and courses: a refusal is not a failure."""
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


# What each kind of section reference is looked up as: (Snapshot field, section key, API call).
SECTION_REFERENCES = (
    ("schools", "school", "school"),
    ("terms", "term_id", "term"),
    ("courses", "course", "course"),
)


class RosterReader:
    """Reads one user's roster with at most ``concurrency`` requests in flight.

    The read plan says which token reads it (see ``clever.sync.access``): a Library login's own
    token, or the district-app token of a district login's district; never a user token where
    it is out of scope. Requests are chained only where one needs the other's answer (sections
    before their users, terms and courses; the user's record before its school and district),
    so wall time follows the longest chain rather than the number of sections. ``start`` sends
    the first requests and returns at once, so the caller's bookkeeping overlaps the wait;
    ``finish`` (in the caller's thread, which may read the database meanwhile) collects
    everything.
    """

    def __init__(
        self,
        plan: ReadPlan,
        clever_id: str,
        *,
        teacher: bool,
        profile: dict[str, Any] | None,
        concurrency: int,
        progress: Progress,
        sections: Future | None = None,
    ) -> None:
        self.plan = plan
        self.prefetched_sections = sections
        self.api = plan.roster
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
        self.schools_asked: set[str] = set()  # one lookup per school, the user's included
        self.user_school: str | None = None

    def _submit(self, kind: str, key: str | None, fn: Callable[..., Any], *args: Any) -> None:
        self.jobs[self.pool.submit(fn, *args)] = (kind, key)

    def start(self) -> None:
        if self.api is None:
            # No rosters shared: only the district, with the user's own token (in its scope).
            self.snap.rosters_shared = False
            self.progress.set_total(0)
            identity, district_id = self.plan.identity, self.plan.district_id
            if identity is not None and district_id:
                self._submit("district", None, _optional, identity.district, district_id)
            return
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
        if self.snap.school is None and self.user_school:
            self.snap.school = self.snap.schools.get(self.user_school)
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
            self._references_of(snap.sections)
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
        elif kind in ("schools", "terms", "courses"):
            if result is not None:
                getattr(snap, kind)[key] = result
        elif kind == "school":
            snap.school = result
            if result is not None:
                snap.schools[result["id"]] = result
        else:
            setattr(snap, kind, result)

    def _members_of(self, section_id: str) -> list[dict[str, Any]] | None:
        assert self.api is not None
        try:
            # A teacher: students and co-teachers in one role-less call (half the requests).
            # A student: only the teachers (a Library student may not list classmates).
            users = self.api.section_users(section_id, None if self.teacher else "teacher")
        except CleverAPIError as error:
            if error.kind != "not_found":
                raise
            users = None  # deleted since it was listed: treated as gone, not as a failure
        self.progress.step()
        return users

    def _organisations_of(self, record: dict[str, Any]) -> None:
        """The user's district and school: district logins only (Library tokens get none, and
        a Library profile names neither)."""
        if not self.plan.district or self.api is None:
            return
        district_id, school_id = record.get("district"), _school_id_of(record)
        if isinstance(district_id, str) and district_id:
            self._submit("district", None, _optional, self.api.district, district_id)
        if school_id and school_id not in self.schools_asked:
            self.schools_asked.add(school_id)
            self._submit("school", None, _optional, self.api.school, school_id)
        elif school_id:
            self.user_school = school_id  # asked for as a section's school: see finish

    def _references_of(self, sections: list[dict[str, Any]]) -> None:
        """Each distinct school, term and course the sections name (district logins only)."""
        if not self.plan.district or self.api is None:
            return
        for kind, key, call in SECTION_REFERENCES:
            ids = {s[key] for s in sections if isinstance(s.get(key), str) and s[key]}
            if kind == "schools":
                ids -= self.schools_asked
                self.schools_asked |= ids
            for object_id in sorted(ids):
                self._submit(kind, object_id, _optional, getattr(self.api, call), object_id)


def _unique(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({record["id"]: record for record in records}.values())
