"""Reading one user's roster from Clever, before anything is written.

Worker threads send the requests and never touch the database, whose Flask-SQLAlchemy session
belongs to the calling thread; they touch nothing but the reader, the progress counter and the
name cache (both in Redis).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from flask import Flask, current_app

from clever import connections
from clever.api import CleverAPI, CleverAPIError
from models import TEACHER_LIKE_ROLES

if TYPE_CHECKING:
    from clever.sync.access import ReadPlan
    from clever.sync.runs import Progress

log = logging.getLogger("clever.sync")

EXTENSION = "roster_reads"


def init_app(app: Flask) -> None:
    """The threads that send every roster read of this process, kept between reads: a wave's
    requests leave at once, without a thread being started for each (under load that took
    milliseconds per request). Each read keeps at most SYNC_CONCURRENCY of them busy."""
    app.extensions[EXTENSION] = ThreadPoolExecutor(
        max_workers=app.config["SYNC_READ_THREADS"], thread_name_prefix="roster-read"
    )


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
        session=connections.session_for(config["CLEVER_API_BASE_URL"]),
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


class NameCache:
    """Names of the terms and courses read less than ``max_age`` seconds ago, by Clever id, in
    Redis (``clever:name:<kind>:<id>``, expiring on their own): a district login then reads
    only the ones it has not seen today. Best effort: without Redis, everything is read.
    Worker threads use it (the Redis client is thread-safe and needs no app context)."""

    def __init__(self, client: redis.Redis, max_age: int) -> None:
        self.client = client
        self.max_age = max_age

    @staticmethod
    def key(kind: str, object_id: str) -> str:
        return f"clever:name:{kind}:{object_id}"

    def names(self, kind: str, ids: Collection[str]) -> dict[str, str]:
        ordered = sorted(ids)
        if not ordered:
            return {}
        try:
            values = self.client.mget([self.key(kind, i) for i in ordered])
        except redis.RedisError:
            return {}
        return {
            i: v.decode() if isinstance(v, bytes) else v
            for i, v in zip(ordered, values, strict=True)
            if v is not None
        }

    def remember(self, kind: str, record: dict[str, Any]) -> None:
        name = record.get("name")
        with contextlib.suppress(redis.RedisError):
            value = name if isinstance(name, str) else ""
            self.client.set(self.key(kind, record["id"]), value, ex=self.max_age)


class RosterReader:
    """Reads one user's roster with at most ``concurrency`` requests in flight.

    The read plan says which token reads it (see ``clever.sync.access``): a Library login's own
    token, or the district-app token of a district login's district; never a user token where
    it is out of scope. What is read (see the package docstring), wave by wave:

    - first, together: the user's sections (each carries its ``students`` and ``teachers`` id
      lists), the user's record (unless the login already asked for it) and everyone the user
      is linked to in one list: ``/users/{id}/mystudents`` for a teacher, ``myteachers`` for a
      student. When the role is not known yet (a first login), that list waits for the record.
    - then, as soon as the sections are in: a teacher's co-teachers not read yet, with as few
      ``/sections/{id}/users?role=teacher`` reads as cover them (a Library token may not read
      another teacher's ``/users/{id}``); a student's teachers are all in ``myteachers``.
    - a class whose id lists name someone the bulk list did not return, or every class when
      Clever refuses the bulk list (403/404), is read per class (``/sections/{id}/users``).

    Each next request goes out from the worker thread the moment the answer it needs arrives
    (future callbacks), so the caller's own work (provisioning, session, token) overlaps the
    wave in flight. Unselected classes (``skip``) are never read per class, and co-teachers
    named only there are not read. District logins also read the user's school and district
    and the schools, terms and courses the sections name, except district and school records
    in ``fresh`` (read less than a day ago), and terms and courses whose names ``names`` holds
    (read less than a day ago). ``finish`` (in the caller's thread) waits and
    assembles the same ``Snapshot`` as a per-class read would.
    """

    def __init__(
        self,
        plan: ReadPlan,
        clever_id: str,
        *,
        teacher: bool | None,
        profile: dict[str, Any] | Future | None,
        concurrency: int,
        skip: Collection[str] = (),
        fresh: Collection[str] = (),
        progress: Progress | None = None,
        calls_before: int | None = None,
        names: NameCache | None = None,
        known: bool = True,
    ) -> None:
        self.plan = plan
        self.api = plan.roster
        self.clever_id = clever_id
        self.teacher = teacher  # None: not known until the user's record arrives
        self.profile = profile
        self.skip = frozenset(skip)
        self.fresh = frozenset(fresh)
        self.names = names
        self.progress = progress
        self.pool: ThreadPoolExecutor = current_app.extensions[EXTENSION]
        self.concurrency = max(1, concurrency)
        self.in_flight: set[Future] = set()  # sent, this read's own
        self.queued: deque[tuple[Callable[[Any], None], Callable[..., Any], tuple, bool]] = deque()
        self.stopped = False  # abandoned, or failed: nothing more is sent
        # Requests its tokens had sent before this read (the login's own count from /me on).
        self.calls_before = self.calls if calls_before is None else calls_before
        self.lock = threading.RLock()
        self.idle = threading.Condition(self.lock)
        self.pending = 0
        # Of those, the reads that only fill in records of people already named (co-teachers)
        # and organisations: ``outline`` does not wait for them.
        self.pending_late = 0
        self.errors: list[BaseException] = []
        self.snap = Snapshot()
        self.record: dict[str, Any] | None = profile if isinstance(profile, dict) else None
        self.wanted: list[dict[str, Any]] | None = None  # listed, not skipped, biggest first
        self.gone: set[str] = set()  # listed, then 404 when read: deleted meanwhile
        # The bulk list (mystudents / myteachers) by Clever id; None until it answered.
        self.linked: dict[str, dict[str, Any]] | None = None
        self.bulk_asked = False
        self.refused: str | None = None  # why Clever refused the bulk list (a kind)
        self.teachers_read: dict[str, dict[str, Any]] = {}  # co-teachers, by Clever id
        self.per_class: dict[str, list[dict[str, Any]]] = {}  # fallback reads, by section
        self.per_class_asked: set[str] = set()
        self.checked = False  # sections checked against the bulk list
        self.deferred: list[dict[str, Any]] = []
        self.schools_asked: set[str] = set()  # one lookup per school, the user's included
        self.user_school: str | None = None
        # False until ``know`` gives teacher, skip, fresh and names (the login sends the
        # sections before it reads the account); sections answered meanwhile wait here.
        self.known = known
        self.early_sections: list[dict[str, Any]] | None = None

    # -- jobs ---------------------------------------------------------------------------------

    def _track(self, future: Future, then: Callable[[Any], None]) -> None:
        """Call ``then`` with the answer of a request sent elsewhere (the login's own)."""
        with self.lock:
            self.pending += 1
        future.add_done_callback(lambda done: self._done(done, then, False))

    def _submit(
        self, then: Callable[[Any], None], fn: Callable[..., Any], *args: Any, late: bool = False
    ) -> None:
        """Send ``fn(*args)`` now, or once fewer than ``concurrency`` of this read's are in
        flight, and call ``then`` with the answer. ``late``: a read ``outline`` does not wait
        for."""
        with self.lock:
            if self.stopped:
                return
            self.pending += 1
            self.pending_late += late
            if len(self.in_flight) < self.concurrency:
                self._send(then, fn, args, late)
            else:
                self.queued.append((then, fn, args, late))

    def _send(
        self, then: Callable[[Any], None], fn: Callable[..., Any], args: tuple, late: bool
    ) -> None:
        """Under the lock; the request is already counted in ``pending``."""
        future = self.pool.submit(fn, *args)
        self.in_flight.add(future)
        future.add_done_callback(lambda done: self._done(done, then, late))

    def _done(self, future: Future, then: Callable[[Any], None], late: bool) -> None:
        """In whichever thread the answer arrives, under the lock."""
        with self.lock:
            try:
                then(future.result())
            except BaseException as error:  # noqa: BLE001 - finish raises it in the caller
                self.errors.append(error)
            finally:
                self.in_flight.discard(future)
                self.pending -= 1
                self.pending_late -= late
                if self.errors:
                    self._stop()
                elif self.queued:
                    self._send(*self.queued.popleft())
                self.idle.notify_all()

    def _stop(self) -> None:
        """Send nothing more (under the lock). Requests in flight end on their own (bounded by
        timeouts) and touch nothing but the reader and the progress counter."""
        if self.stopped:
            return
        self.stopped = True
        for _, _, _, late in self.queued:
            self.pending -= 1
            self.pending_late -= late
        self.queued.clear()
        for future in list(self.in_flight):
            future.cancel()  # one the pool has not started yet never is

    # -- the plan -----------------------------------------------------------------------------

    def start(self) -> None:
        """Send the first wave and return at once."""
        if self.api is None:
            self.snap.rosters_shared = False
            if self.known:
                self._read_district_alone()
            return
        api = self.api
        with self.lock:
            self._submit(self._on_sections, api.user_sections, self.clever_id)
            if isinstance(self.profile, Future):
                self._track(self.profile, self._on_profile)
            elif self.profile is None:
                self._submit(self._on_profile, _optional, api.user, self.clever_id)
            else:
                self._on_profile(self.profile)
            self._ask_bulk()

    def _read_district_alone(self) -> None:
        """No rosters shared: only the district, with the user's own token (in its scope)."""
        identity, district_id = self.plan.identity, self.plan.district_id
        if identity is not None and district_id and district_id not in self.fresh:
            self._submit(self._set("district"), _optional, identity.district, district_id)

    def know(
        self,
        *,
        teacher: bool | None,
        skip: Collection[str] = (),
        fresh: Collection[str] = (),
        names: NameCache | None = None,
    ) -> None:
        """What the account says, for a reader made with ``known=False`` and started: the
        user's role as we know it (None: a first login, the record decides), the classes they
        chose not to sync, the organisations read today, the names cache. The sections went
        out without them: they are the next wave's input, the account is not."""
        with self.lock:
            if teacher is not None:
                self.teacher = teacher
            self.skip, self.fresh, self.names = frozenset(skip), frozenset(fresh), names
            self.known = True
            if self.api is None:
                self._read_district_alone()
                return
            self._ask_bulk()
            if self.early_sections is not None:
                sections, self.early_sections = self.early_sections, None
                self._on_sections(sections)  # and on from there (its _advance)

    def _ask_bulk(self) -> None:
        """Everyone the user is linked to, in one list, once the role is known."""
        if not self.known or self.teacher is None or self.bulk_asked or self.api is None:
            return
        self.bulk_asked = True
        call = self.api.my_students if self.teacher else self.api.my_teachers
        self._submit(self._on_bulk, _refusable, call, self.clever_id)

    def _on_profile(self, record: dict[str, Any] | None) -> None:
        if record is not None:
            self.record = record
            if self.teacher is None:
                self.teacher = _holds_teacher_role(record)
            if self.wanted is None:
                self.deferred.append(record)  # off the critical path: after the sections
            else:
                self._organisations_of(record)
        elif self.teacher is None:
            self.teacher = True  # no record, no role: the login stops; the guess is harmless
        self._ask_bulk()
        self._advance()

    def _on_sections(self, sections: list[dict[str, Any]]) -> None:
        if not self.known:
            self.early_sections = sections  # ``know`` goes on from here
            return
        self.snap.sections = _unique(sections)
        # Biggest first: if read per class, its later pages then overlap the small sections.
        self.wanted = sorted(
            (s for s in self.snap.sections if s["id"] not in self.skip),
            key=lambda s: -len(s.get("students") or ()),
        )
        if self.progress is not None:
            self.progress.set_total(len(self.wanted))
        self._advance()
        self._references_of(self.snap.sections)
        for record in self.deferred:
            self._organisations_of(record)
        self.deferred.clear()

    def _on_bulk(self, answer: list[dict[str, Any]] | CleverAPIError) -> None:
        if isinstance(answer, CleverAPIError):
            self.refused = answer.kind
            self.linked = {}
        else:
            self.linked = {record["id"]: record for record in answer}
        self._advance()

    def _advance(self) -> None:
        """The next requests whose inputs have all arrived (idempotent)."""
        if self.wanted is None or self.teacher is None:
            return
        if self.teacher and not self.teachers_read and self.refused is None:
            self._read_co_teachers()
        if self.linked is not None and not self.checked:
            self.checked = True
            for section in self.wanted:
                if self.refused is not None or self._missing_from_bulk(section):
                    self._read_per_class(section["id"])

    def _missing_from_bulk(self, section: dict[str, Any]) -> bool:
        assert self.linked is not None
        named = section.get("students") if self.teacher else section.get("teachers")
        return any(uid not in self.linked for uid in named or ())

    def _read_co_teachers(self) -> None:
        """Every teacher the wanted sections name but the user, read with the fewest section
        reads that cover them (greedy: the section naming most of the unread ones first)."""
        assert self.wanted is not None
        self.teachers_read[self.clever_id] = self.record or {"id": self.clever_id}
        unread = {
            tid: None
            for section in self.wanted
            for tid in _teacher_ids(section)
            if tid not in self.teachers_read
        }
        while unread:
            best = max(self.wanted, key=lambda s: len(unread.keys() & _teacher_ids(s)))
            for tid in _teacher_ids(best):
                unread.pop(tid, None)
            self._submit(
                self._on_teachers(best["id"]), self._members_of, best["id"], "teacher", late=True
            )

    def _on_teachers(self, section_id: str) -> Callable[[Any], None]:
        def collect(users: list[dict[str, Any]] | None) -> None:
            if users is None:
                self.gone.add(section_id)
                return
            for record in users:
                self.teachers_read.setdefault(record["id"], record)

        return collect

    def _read_per_class(self, section_id: str) -> None:
        if section_id in self.per_class_asked:
            return
        self.per_class_asked.add(section_id)
        # A teacher: students and co-teachers in one role-less call. A student: only the
        # teachers (a Library student may not list classmates).
        role = None if self.teacher else "teacher"
        self._submit(self._on_per_class(section_id), self._members_of, section_id, role)

    def _on_per_class(self, section_id: str) -> Callable[[Any], None]:
        def collect(users: list[dict[str, Any]] | None) -> None:
            if users is None:
                self.gone.add(section_id)
            else:
                self.per_class[section_id] = users

        return collect

    def _set(self, kind: str, key: str | None = None) -> Callable[[Any], None]:
        def collect(result: Any) -> None:
            if kind in ("schools", "terms", "courses"):
                if result is not None:
                    getattr(self.snap, kind)[key] = result
                    if kind != "schools" and self.names is not None:
                        self.names.remember(kind, result)
            elif kind == "school":
                self.snap.school = result
                if result is not None:
                    self.snap.schools[result["id"]] = result
            else:
                setattr(self.snap, kind, result)

        return collect

    # -- the end ------------------------------------------------------------------------------

    def outline(self) -> Snapshot | None:
        """Who is in which class, as soon as only late reads (co-teachers' records,
        organisations) are still out: the caller reads what the apply compares against
        meanwhile. Co-teachers not read yet are ids only. None after a failure, or when no
        roster is read; ``finish`` then says why."""
        with self.lock:
            assert self.known, "outline before know"
            while self.pending > self.pending_late and not self.errors:
                self.idle.wait()
            if self.errors or self.api is None or self.wanted is None:
                return None
            return Snapshot(
                sections=[s for s in self.snap.sections if s["id"] not in self.gone],
                members=self._members(placeholders=True),
            )

    def finish(self) -> Snapshot:
        """Wait for everything (or the first failure) and assemble the snapshot."""
        with self.lock:
            assert self.known, "finish before know"
            while self.pending and not self.errors:
                self.idle.wait()
            if self.errors:
                self._stop()
                raise self.errors[0]
        snap = self.snap
        if self.api is not None:
            self._assemble()
        if snap.school is None and self.user_school:
            snap.school = snap.schools.get(self.user_school)
        return snap

    def abandon(self) -> None:
        """Stop queued work (see ``_stop``)."""
        with self.lock:
            self._stop()

    @property
    def calls(self) -> int:
        """Data API requests sent so far with this read's tokens (retries and pages included)."""
        apis = {id(api): api for api in (self.plan.roster, self.plan.identity) if api is not None}
        return sum(api.calls for api in apis.values())

    def attach(self, progress: Progress) -> None:
        """Report to ``progress`` from now on (a login's reader starts before its account and
        run exist)."""
        with self.lock:
            self.progress = progress
            if self.wanted is not None:
                progress.set_total(len(self.wanted))

    def _assemble(self) -> None:
        """``Snapshot.members``: by section, the records its id lists name (per-class answers
        as they came)."""
        snap = self.snap
        snap.sections = [s for s in snap.sections if s["id"] not in self.gone]
        snap.members.update(self._members())
        if self.progress is not None and snap.members:
            self.progress.step(len(snap.members))  # one Redis round trip, not one per class
        if self.per_class_asked:
            log.info(
                "roster read: %d of %d classes read one by one (%s)",
                len(self.per_class_asked),
                len(self.wanted or ()),
                f"bulk list refused: {self.refused}" if self.refused else "bulk list fell short",
            )

    def _members(self, *, placeholders: bool = False) -> dict[str, list[dict[str, Any]]]:
        """By wanted section, the records its id lists name; ``placeholders``: a teacher not
        read yet is there as ``{"id": ...}``."""
        linked, members = self.linked or {}, {}
        people = {**linked, **self.teachers_read} if self.teacher else linked
        for section in self.wanted or ():
            sid = section["id"]
            if sid in self.gone:
                continue
            if sid in self.per_class:
                members[sid] = self.per_class[sid]
                continue
            teachers = _teacher_ids(section)
            students = (section.get("students") or ()) if self.teacher else ()
            ids = dict.fromkeys([*teachers, *students])
            members[sid] = [
                people.get(uid, {"id": uid})
                for uid in ids
                if uid in people or (placeholders and uid in teachers)
            ]
        return members

    # -- reads ----------------------------------------------------------------------------------

    def _members_of(self, section_id: str, role: str | None) -> list[dict[str, Any]] | None:
        assert self.api is not None
        try:
            return self.api.section_users(section_id, role)
        except CleverAPIError as error:
            if error.kind != "not_found":
                raise
            return None  # deleted since it was listed: treated as gone, not as a failure

    def _organisations_of(self, record: dict[str, Any]) -> None:
        """The user's district and school: district logins only (Library tokens get none, and
        a Library profile names neither); not when read less than a day ago."""
        if not self.plan.district or self.api is None:
            return
        district_id, school_id = record.get("district"), _school_id_of(record)
        if isinstance(district_id, str) and district_id and district_id not in self.fresh:
            self._submit(
                self._set("district"), _optional, self.api.district, district_id, late=True
            )
        if school_id and school_id not in self.schools_asked and school_id not in self.fresh:
            self.schools_asked.add(school_id)
            self._submit(self._set("school"), _optional, self.api.school, school_id, late=True)
        elif school_id:
            self.user_school = school_id  # asked for as a section's school: see finish

    def _references_of(self, sections: list[dict[str, Any]]) -> None:
        """Each distinct school, term and course the sections name (district logins only),
        except the schools in ``fresh`` and the terms and courses whose names ``names`` has."""
        if not self.plan.district or self.api is None:
            return
        for kind, key, call in SECTION_REFERENCES:
            ids = {s[key] for s in sections if isinstance(s.get(key), str) and s[key]}
            if kind == "schools":
                ids -= self.schools_asked | self.fresh
                self.schools_asked |= ids
            elif self.names is not None:
                for object_id, name in self.names.names(kind, ids).items():
                    getattr(self.snap, kind)[object_id] = {"id": object_id, "name": name}
                    ids.discard(object_id)
            for object_id in sorted(ids):
                self._submit(
                    self._set(kind, object_id),
                    _optional,
                    getattr(self.api, call),
                    object_id,
                    late=True,
                )


def _teacher_ids(section: dict[str, Any]) -> set[str]:
    ids = set(section.get("teachers") or ())
    if section.get("teacher"):
        ids.add(section["teacher"])
    return ids


def _holds_teacher_role(record: dict[str, Any]) -> bool:
    """As the account will be provisioned (``accounts.role_from_clever``)."""
    roles = record.get("roles") or {}
    return any(role in roles for role in TEACHER_LIKE_ROLES) or "student" not in roles


def _refusable(call: Callable[[str], Any], user_id: str) -> Any:
    """The bulk list, or Clever's refusal of it (403/404) as a value: then read per class."""
    try:
        return call(user_id)
    except CleverAPIError as error:
        if error.kind in ("forbidden", "not_found"):
            return error
        raise


def _unique(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({record["id"]: record for record in records}.values())
