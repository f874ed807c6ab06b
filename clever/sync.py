"""Roster sync: read everything from Clever first, then apply it in one transaction.

What is read (no database writes while reading; worker threads never touch the database,
whose Flask-SQLAlchemy session belongs to the calling thread):

- a teacher: their sections, and for each section they keep selected every user of it
  (one role-less ``/sections/{id}/users`` call gives students and co-teachers at once);
- a student: their sections, and each section's teachers (never their classmates);
- alongside the sections, best effort: the user's school and district (Library tokens get
  401/403/404 there, which is not a failure).

How it is applied: upserts by Clever id, archive (``archived_at``) what disappeared, restore the
same row when it comes back, never delete. Nothing is assigned unless it differs, so a re-sync
with nothing changed writes only its ``SyncRun``. Any failure rolls everything back and records a
failed ``SyncRun`` in its own commit. A sync that would archive more than half of the active
students of a class of five or more is held for the teacher to confirm.

Counts on a ``SyncRun`` are roster entries: classes, class memberships (enrollments) and
teaching links added, archived or restored; ``updated`` counts changed classes, people and
links.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import redis
from flask import Flask, current_app
from sqlalchemy import exc as sa_exc

from clever.api import CleverAPI, CleverAPIError
from clever.sessions import get_redis
from clever.tokens import load_token
from models import (
    ROLE_STUDENT,
    ROLE_TEACHER,
    District,
    Enrollment,
    School,
    Section,
    SectionTeacher,
    SyncRun,
    TeacherSectionPreference,
    User,
    db,
    utcnow,
)

log = logging.getLogger("clever.sync")

# SyncRun.status values.
RUNNING, OK, FAILED, HELD = "running", "ok", "failed", "held"
# A held run the teacher answered, or one a later sync made moot.
CONFIRMED, DISMISSED, SUPERSEDED = "confirmed", "dismissed", "superseded"
# Never stored: what sync_user returns when another sync of the same user holds the lock.
SKIPPED = "skipped"

LOCK_SECONDS = 300
PROGRESS_SECONDS = 3600
# The mass-change guard: classes this big or bigger may lose at most half their students.
GUARD_MIN_STUDENTS = 5
IN_CHUNK = 500  # ids per IN (...) clause: well under every database's parameter limit
# Roles that make a section member a teacher when the section's own lists do not say.
TEACHER_LIKE = ("teacher", "staff", "district_admin")
# Best-effort lookups (school, district, the user's own record) tolerate these.
OPTIONAL_KINDS = frozenset({"unauthorized", "forbidden", "not_found"})

StartResult = Literal["started", "busy", "no_token", "not_clever"]


def lock_key(user_id: int) -> str:
    return f"sync:lock:{user_id}"


def progress_key(user_id: int) -> str:
    return f"sync:progress:{user_id}"


def make_api(token: str) -> CleverAPI:
    """A Clever API client configured from the app (timeouts, retries, rate-limit patience)."""
    config = current_app.config
    return CleverAPI(
        config["CLEVER_API_BASE_URL"],
        token,
        timeout=config["CLEVER_HTTP_TIMEOUT"],
        max_retries=config.get("CLEVER_MAX_RETRIES", 3),
        backoff=config.get("CLEVER_RETRY_BACKOFF", 0.5),
        max_rate_limit_wait=config.get("CLEVER_MAX_RATE_LIMIT_WAIT", 60.0),
    )


# -- locking and progress (Redis: shared by every app instance) ----------------------------------


def acquire_lock(user_id: int) -> redis.lock.Lock | None:
    """``SET sync:lock:<user_id> <random> NX EX 300``; None when another sync holds it.

    Not thread-local: a manual sync takes the lock in the request and releases it in its
    background thread.
    """
    lock = get_redis().lock(
        lock_key(user_id), timeout=LOCK_SECONDS, blocking=False, thread_local=False
    )
    return lock if lock.acquire() else None


def release_lock(lock: redis.lock.Lock) -> None:
    try:
        lock.release()
    except redis.exceptions.LockError:
        log.warning("sync lock had already expired")  # the sync outlived LOCK_SECONDS
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
        mapping = {"status": RUNNING, "done": 0, "total": 0, "run_id": ""}
        self._do(lambda pipe: pipe.hset(self.key, mapping=mapping))

    def set_total(self, total: int) -> None:
        self._do(lambda pipe: pipe.hset(self.key, "total", total))

    def step(self) -> None:
        self._do(lambda pipe: pipe.hincrby(self.key, "done", 1))

    def finish(self, run: SyncRun) -> None:
        mapping = {"status": run.status, "run_id": run.id or ""}
        self._do(lambda pipe: pipe.hset(self.key, mapping=mapping))


# -- reading ------------------------------------------------------------------------------------


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


# -- applying -----------------------------------------------------------------------------------


def _column_limit(model: type, column: str) -> int | None:
    return getattr(model.__table__.c[column].type, "length", None)


def _text(value: Any, limit: int | None) -> str | None:
    """Stripped text cut to the column's length, or None when empty.

    SQLite ignores VARCHAR(n) while PostgreSQL raises on overflow: cut here so both databases
    store the same thing and an over-long name cannot fail the sync in production only.
    """
    if value is None:
        return None
    text = str(value).strip()
    if limit is not None:
        text = text[:limit]
    return text or None


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def _select_in(model: type, column: Any, values: Iterable[Any]) -> list[Any]:
    found: list[Any] = []
    for chunk in _chunks(sorted(set(values))):
        found.extend(db.session.scalars(db.select(model).where(column.in_(chunk))))
    return found


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    archived: int = 0
    restored: int = 0


class HeldSync(Exception):
    """The mass-change guard tripped; carries the would-be changes for the teacher."""

    def __init__(self, changes: dict[str, Any]) -> None:
        super().__init__("sync held")
        self.changes = changes


SECTION_FIELDS = ("subject", "grade", "period", "section_number")
USER_NAME_FIELDS = (("first_name", "first"), ("middle_name", "middle"), ("last_name", "last"))


class Apply:
    """Turns one Snapshot into database changes for one user (request thread only)."""

    def __init__(self, user: User, snap: Snapshot, *, allow_shrink: Collection[str] = ()) -> None:
        self.new_school: School | None = None
        self.user = user
        self.snap = snap
        self.teacher = user.is_teacher
        self.allow_shrink = set(allow_shrink)
        self.now = utcnow()
        self.counts = Counts()
        self.listed = {s["id"]: s for s in snap.sections}

    # The order matters: everything is read and the guard checked before the first write.
    def run(self) -> Counts:
        self.load()
        self.check_guard()
        with db.session.no_autoflush:
            self.organisations()
            self.people()
            self.sections()
        db.session.flush()  # new users and sections get their ids
        with db.session.no_autoflush:
            self.teaching_links()
            self.enrollments()
            self.preferences()
        return self.counts

    # -- reads --------------------------------------------------------------------------

    def load(self) -> None:
        user = self.user
        if self.teacher:
            own = db.session.execute(
                db.select(SectionTeacher, Section)
                .join(Section, SectionTeacher.section_id == Section.id)
                .where(SectionTeacher.teacher_id == user.id)
            ).all()
        else:
            own = db.session.execute(
                db.select(Enrollment, Section)
                .join(Section, Enrollment.section_id == Section.id)
                .where(Enrollment.student_id == user.id)
            ).all()
        self.own_rows = {section.clever_id: row for row, section in own}
        self.sections_by_cid: dict[str, Section] = {s.clever_id: s for _, s in own}
        missing = [cid for cid in self.listed if cid not in self.sections_by_cid]
        for section in _select_in(Section, Section.clever_id, missing):
            self.sections_by_cid[section.clever_id] = section

        # Who is in each section we read, split into teachers and students.
        self.section_teachers: dict[str, dict[str, dict[str, Any]]] = {}
        self.section_students: dict[str, dict[str, dict[str, Any]]] = {}
        records: dict[str, tuple[dict[str, Any], str]] = {}
        for cid, users in self.snap.members.items():
            teachers, students = _split_members(self.listed[cid], users, self.teacher)
            self.section_teachers[cid], self.section_students[cid] = teachers, students
            for record in teachers.values():
                records.setdefault(record["id"], (record, ROLE_TEACHER))
            for record in students.values():
                records[record["id"]] = (record, ROLE_STUDENT)
        records.pop(user.clever_id, None)  # the login keeps the user's own profile
        self.records = records
        self.users_by_cid: dict[str, User] = {user.clever_id: user}
        for person in _select_in(User, User.clever_id, records):
            self.users_by_cid[person.clever_id] = person

        known_ids = [s.id for s in self.sections_by_cid.values()]
        self.links: dict[int, dict[int, SectionTeacher]] = {}
        for link in _select_in(SectionTeacher, SectionTeacher.section_id, known_ids):
            self.links.setdefault(link.section_id, {})[link.teacher_id] = link
        self.enrolled: dict[int, dict[int, Enrollment]] = {}
        if self.teacher:
            read_ids = [
                self.sections_by_cid[cid].id
                for cid in self.snap.members
                if cid in self.sections_by_cid
            ]
            for row in _select_in(Enrollment, Enrollment.section_id, read_ids):
                self.enrolled.setdefault(row.section_id, {})[row.student_id] = row
        self.cid_by_user_id = {u.id: cid for cid, u in self.users_by_cid.items()}
        if self.enrolled:
            unknown = {
                sid
                for rows in self.enrolled.values()
                for sid in rows
                if sid not in self.cid_by_user_id
            }
            for person in _select_in(User, User.id, unknown):
                self.cid_by_user_id[person.id] = person.clever_id or ""

    def check_guard(self) -> None:
        """Hold the whole sync if a class of 5+ would lose more than half its students."""
        held = []
        for cid, students in self.section_students.items():
            section = self.sections_by_cid.get(cid)
            if section is None or cid in self.allow_shrink:
                continue
            rows = self.enrolled.get(section.id, {})
            active = {
                self.cid_by_user_id.get(uid) for uid, row in rows.items() if row.archived_at is None
            }
            leaving = len(active - set(students))
            if len(active) >= GUARD_MIN_STUDENTS and leaving * 2 > len(active):
                held.append(
                    {
                        "section_id": section.id,
                        "clever_id": cid,
                        "name": section.name,
                        "active_students": len(active),
                        "would_archive": leaving,
                        "would_add": len(set(students) - active),
                    }
                )
        if held:
            raise HeldSync({"sections": held})

    # -- writes -------------------------------------------------------------------------

    def _set(self, row: Any, column: str, value: Any) -> bool:
        """Assign only a real change, so an unchanged row is never written."""
        if getattr(row, column) == value:
            return False
        setattr(row, column, value)
        return True

    def _archive(self, row: Any) -> None:
        if row.archived_at is None:
            row.archived_at = self.now
            self.counts.archived += 1

    def _restore(self, row: Any) -> None:
        if row.archived_at is not None:
            row.archived_at = None
            self.counts.restored += 1

    def organisations(self) -> None:
        district = self._organisation(District, self.snap.district)
        school = self._organisation(School, self.snap.school)
        self.new_school = school
        if school is not None and district is not None and school.district_id is None:
            school.district = district
        # Relationships for new rows (no id before the flush); ids compared for known ones.
        user = self.user
        if district is not None and (district.id is None or user.district_id != district.id):
            user.district = district
        if school is not None and (school.id is None or user.school_id != school.id):
            user.school = school

    def _organisation(self, model: type, record: dict[str, Any] | None) -> Any:
        if record is None:
            return None
        name = _text(record.get("name"), _column_limit(model, "name"))
        row = db.session.scalar(db.select(model).filter_by(clever_id=record["id"]))
        if row is None:
            row = model(clever_id=record["id"], name=name or "")
            db.session.add(row)
        elif name:
            self._set(row, "name", name)
        return row

    def people(self) -> None:
        for cid, (record, role) in self.records.items():
            name = record.get("name") or {}
            values = {
                column: _text(name.get(key), _column_limit(User, column))
                for column, key in USER_NAME_FIELDS
            }
            values["email"] = _text(record.get("email"), _column_limit(User, "email"))
            roles = record.get("roles") or {}
            values["grade"] = _text(
                (roles.get("student") or {}).get("grade"), _column_limit(User, "grade")
            )
            person = self.users_by_cid.get(cid)
            if person is None:
                # No last_login_at: the login tells a first login by its absence.
                person = User(
                    clever_id=cid,
                    first_name=values["first_name"] or "",
                    middle_name=values["middle_name"],
                    last_name=values["last_name"] or "",
                    email=values["email"],
                    grade=values["grade"],
                    role=role,
                    clever_roles=",".join(sorted(roles))[:200],
                )
                db.session.add(person)
                self.users_by_cid[cid] = person
                continue
            # Never blank out what we have: a reduced (Library) record omits fields.
            changed = [self._set(person, column, v) for column, v in values.items() if v]
            if any(changed):
                self.counts.updated += 1

    def sections(self) -> None:
        wanted = {r["school"] for r in self.listed.values() if isinstance(r.get("school"), str)}
        schools = {s.clever_id: s for s in _select_in(School, School.clever_id, wanted)}
        if self.new_school is not None:
            schools[self.new_school.clever_id] = self.new_school
        for cid, record in self.listed.items():
            section = self.sections_by_cid.get(cid)
            name = _text(record.get("name"), _column_limit(Section, "name"))
            if section is None:
                section = Section(clever_id=cid, name=name or "Untitled class")
                db.session.add(section)
                self.sections_by_cid[cid] = section
                self.counts.added += 1
                changed = []
            else:
                self._restore(section)
                changed = [self._set(section, "name", name)] if name else []
            # A key Clever left out (Library view) leaves our value alone; null clears it.
            for column in SECTION_FIELDS:
                if column in record:
                    value = _text(record[column], _column_limit(Section, column))
                    changed.append(self._set(section, column, value))
            school = schools.get(record.get("school") or "")
            if school is not None and (school.id is None or section.school_id != school.id):
                section.school = school
                changed.append(True)
            if any(changed) and section.id is not None:
                self.counts.updated += 1

    def _link(self, section: Section, person: User, primary: bool) -> None:
        links = self.links.setdefault(section.id, {})
        link = links.get(person.id)
        if link is None:
            link = SectionTeacher(section_id=section.id, teacher_id=person.id, is_primary=primary)
            db.session.add(link)
            links[person.id] = link
            self.counts.added += 1
            return
        self._restore(link)
        if self._set(link, "is_primary", primary):
            self.counts.updated += 1

    def teaching_links(self) -> None:
        me = self.user
        for cid, record in self.listed.items():
            section = self.sections_by_cid[cid]
            primary = record.get("teacher")
            if self.teacher:
                self._link(section, me, primary == me.clever_id)
            teachers = self.section_teachers.get(cid)
            if teachers is None:
                continue  # not read (an unselected class): its other links stay as they are
            keep = {me.id} if self.teacher else set()
            for tid in teachers:
                person = self.users_by_cid.get(tid)
                if person is not None:
                    self._link(section, person, primary == tid)
                    keep.add(person.id)
            for teacher_id, link in self.links.get(section.id, {}).items():
                if teacher_id not in keep:
                    self._archive(link)
        if not self.teacher:
            return
        # Classes the teacher no longer has: end their link, and the class itself when
        # nobody teaches it any more (it comes back, same row, if it reappears).
        for cid, link in self.own_rows.items():
            if cid in self.listed or link.archived_at is not None:
                continue
            self._archive(link)
            section = self.sections_by_cid[cid]
            others = self.links.get(section.id, {})
            if all(other.archived_at is not None for other in others.values()):
                self._archive(section)

    def enrollments(self) -> None:
        if not self.teacher:
            me = self.user
            for cid in self.listed:
                section = self.sections_by_cid[cid]
                row = self.own_rows.get(cid)
                if row is None:
                    db.session.add(Enrollment(section_id=section.id, student_id=me.id))
                    self.counts.added += 1
                else:
                    self._restore(row)
            for cid, row in self.own_rows.items():
                if cid not in self.listed:
                    self._archive(row)
            return
        for cid, students in self.section_students.items():
            section = self.sections_by_cid[cid]
            rows = self.enrolled.get(section.id, {})
            present = set()
            for sid in students:
                person = self.users_by_cid[sid]
                present.add(person.id)
                row = rows.get(person.id)
                if row is None:
                    db.session.add(Enrollment(section_id=section.id, student_id=person.id))
                    self.counts.added += 1
                else:
                    self._restore(row)
            for student_id, row in rows.items():
                if student_id not in present:
                    self._archive(row)

    def preferences(self) -> None:
        """New classes start selected: a row on first sight, never touched again here."""
        if not self.teacher:
            return
        have = set(
            db.session.scalars(
                db.select(TeacherSectionPreference.section_id).filter_by(teacher_id=self.user.id)
            )
        )
        for section in (self.sections_by_cid[cid] for cid in self.listed):
            if section.id not in have:
                db.session.add(
                    TeacherSectionPreference(
                        teacher_id=self.user.id, section_id=section.id, selected=True
                    )
                )


def _split_members(
    section: dict[str, Any], users: list[dict[str, Any]], teacher_sync: bool
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(teachers, students) of one section, by the section's own id lists, else by role."""
    if not teacher_sync:
        return {u["id"]: u for u in users}, {}
    teacher_ids = set(section.get("teachers") or ())
    if section.get("teacher"):
        teacher_ids.add(section["teacher"])
    student_ids = set(section.get("students") or ())
    teachers: dict[str, dict[str, Any]] = {}
    students: dict[str, dict[str, Any]] = {}
    for record in users:
        uid = record["id"]
        roles = record.get("roles") or {}
        if uid in teacher_ids:
            teachers[uid] = record
        elif uid in student_ids or not any(role in roles for role in TEACHER_LIKE):
            students[uid] = record
        else:
            teachers[uid] = record
    return teachers, students


# -- one sync ------------------------------------------------------------------------------------


def error_code(error: BaseException) -> str:
    """A short code for SyncRun.error: no personal data, no tokens, no response content."""
    if isinstance(error, CleverAPIError):
        return f"clever_{error.kind}" + (f"_{error.status}" if error.status else "")
    if isinstance(error, sa_exc.SQLAlchemyError):
        return "database_error"
    return "internal_error"


def unselected_sections(user: User) -> set[str]:
    """Clever ids of the classes this teacher chose not to sync."""
    return set(
        db.session.scalars(
            db.select(Section.clever_id)
            .join(TeacherSectionPreference, TeacherSectionPreference.section_id == Section.id)
            .where(
                TeacherSectionPreference.teacher_id == user.id,
                TeacherSectionPreference.selected.is_(False),
            )
        )
    )


def sync_user(
    user: User,
    api: CleverAPI,
    trigger: str,
    *,
    clever_user: dict[str, Any] | None = None,
    allow_shrink: Collection[str] = (),
    lock: redis.lock.Lock | None = None,
    sections: Future | None = None,
) -> SyncRun | None:
    """Sync ``user``'s roster from Clever; return the recorded SyncRun.

    Never raises for Clever or database trouble: that becomes a failed run (login goes on).
    Returns None for an account without a Clever id, and an unsaved run with status "skipped"
    when another sync of this user holds the lock. ``clever_user`` (the login's
    /users/{id} answer) saves one request; ``allow_shrink`` lists Clever section ids whose
    shrink the teacher confirmed; ``lock`` is a lock the caller already holds; ``sections``
    is the login's own request for /users/{id}/sections, sent while /users/{id} was on its way.
    """
    if not user.clever_id:
        return None
    own_lock = lock is None
    if own_lock:
        try:
            lock = acquire_lock(user.id)
        except redis.RedisError:
            log.warning("sync of user %s skipped: Redis unavailable for the lock", user.id)
            return SyncRun(user_id=user.id, trigger=trigger, status=SKIPPED, error="no_lock")
        if lock is None:
            log.info("sync of user %s skipped: another sync is running", user.id)
            return SyncRun(
                user_id=user.id, trigger=trigger, status=SKIPPED, error="sync_in_progress"
            )
    try:
        return _sync(user, api, trigger, clever_user, allow_shrink, sections)
    finally:
        if own_lock:
            release_lock(lock)


def _sync(
    user: User,
    api: CleverAPI,
    trigger: str,
    clever_user: dict[str, Any] | None,
    allow_shrink: Collection[str],
    sections: Future | None = None,
) -> SyncRun:
    started = time.monotonic()
    calls_before = api.calls
    user_id, role = user.id, user.role  # for the log line, whatever happens to the session
    progress = Progress(get_redis(), user.id)
    progress.start()
    reader = RosterReader(
        api,
        user.clever_id,
        teacher=user.is_teacher,
        profile=clever_user,
        concurrency=current_app.config.get("SYNC_CONCURRENCY", 8),
        progress=progress,
        sections=sections,
    )
    # Clever's first answers are on their way while we do the bookkeeping below (a run row,
    # the teacher's class choices): none of it is roster data, and none of it waits on Clever.
    reader.start()
    run = SyncRun(user_id=user.id, trigger=trigger, status=RUNNING, started_at=utcnow())
    try:
        _close_interrupted_runs(user.id)
        db.session.add(run)
        db.session.commit()
    except sa_exc.SQLAlchemyError:
        reader.abandon()
        db.session.rollback()
        log.error("sync of user %s not started: the database refused its run", user_id)
        return SyncRun(user_id=user_id, trigger=trigger, status=FAILED, error="database_error")
    run_id = run.id

    def finish(target: SyncRun) -> None:
        target.finished_at = utcnow()
        target.duration_ms = int((time.monotonic() - started) * 1000)
        target.api_calls = api.calls - calls_before

    try:
        snap = reader.finish(skip=unselected_sections(user) if user.is_teacher else ())
        held: dict[str, Any] | None = None
        try:
            counts = _apply_with_retry(user, snap, allow_shrink)
        except HeldSync as guard:
            # Nothing was written: the guard runs before the first change.
            counts, held = Counts(), guard.changes
        # Before the run's own fields change: its query would autoflush them in a 2nd UPDATE.
        _supersede_held_runs(user.id, run_id)
        if held is None:
            run.status = OK
        else:
            run.status, run.held_changes = HELD, json.dumps(held, ensure_ascii=False)
        run.added, run.updated = counts.added, counts.updated
        run.archived, run.restored = counts.archived, counts.restored
        run.sections_total = len(snap.members)
        finish(run)
        db.session.commit()  # the roster changes and the run's result, together
    except Exception as error:  # every failure becomes a failed run; the login goes on
        db.session.rollback()
        code = error_code(error)
        if isinstance(error, CleverAPIError):
            log.warning("sync run %s failed: %s", run_id, error)  # safe by construction
        else:
            log.error("sync run %s failed: %s", run_id, code, exc_info=True)
        # If even that cannot be written, the caller still learns that the sync failed.
        run = _record_failure(run_id, code, finish) or SyncRun(
            user_id=user_id, trigger=trigger, status=FAILED, error=code
        )
    log.info(
        "sync run %s user %s (%s, %s): %s, %d classes, +%d ~%d -%d restored %d, %d calls, %s ms",
        run_id, user_id, trigger, role, run.status, run.sections_total or 0, run.added or 0,
        run.updated or 0, run.archived or 0, run.restored or 0, run.api_calls or 0,
        run.duration_ms,
    )  # fmt: skip
    progress.finish(run)
    return run


def _apply_with_retry(user: User, snap: Snapshot, allow_shrink: Collection[str]) -> Counts:
    """Apply; once more on a unique-key race (a classmate's login inserted the same row)."""
    try:
        counts = Apply(user, snap, allow_shrink=allow_shrink).run()
        db.session.flush()
        return counts
    except sa_exc.IntegrityError:
        db.session.rollback()
        log.info("sync of user %s met a concurrent insert; applying again", user.id)
        counts = Apply(user, snap, allow_shrink=allow_shrink).run()
        db.session.flush()
        return counts


def _record_failure(run_id: int, code: str, finish: Callable[[SyncRun], None]) -> SyncRun | None:
    try:
        run = db.session.get(SyncRun, run_id)
        if run is None:
            return None
        run.status, run.error = FAILED, code
        finish(run)
        db.session.commit()
        return run
    except sa_exc.SQLAlchemyError:
        db.session.rollback()
        log.error("could not record the failure of sync run %s", run_id)
        return None


def _close_interrupted_runs(user_id: int) -> None:
    """We hold the lock, so a "running" row of this user is a sync whose process died."""
    stale = db.session.scalars(db.select(SyncRun).filter_by(user_id=user_id, status=RUNNING)).all()
    for run in stale:
        run.status, run.error = FAILED, "interrupted"


def _supersede_held_runs(user_id: int, run_id: int) -> None:
    """A newer result (applied or held again) makes an unanswered held run moot."""
    older = db.session.scalars(
        db.select(SyncRun).where(
            SyncRun.user_id == user_id, SyncRun.status == HELD, SyncRun.id != run_id
        )
    ).all()
    for run in older:
        run.status = SUPERSEDED


# -- manual sync in the background ----------------------------------------------------------------


def start_background_sync(user: User, *, allow_shrink: Collection[str] = ()) -> StartResult:
    """Start a manual sync in a thread with its own app context; return at once.

    The lock is taken here, in the request, so a second click gets "busy" immediately.
    """
    if not user.clever_id:
        return "not_clever"
    token = load_token(user.id)
    if token is None:
        return "no_token"
    lock = acquire_lock(user.id)
    if lock is None:
        return "busy"
    # Visible to /sync/status before the thread has even started.
    Progress(get_redis(), user.id).start()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=_background_sync,
        args=(app, user.id, token, lock, tuple(allow_shrink)),
        name=f"sync-user-{user.id}-{uuid.uuid4().hex[:6]}",
        daemon=True,
    )
    thread.start()
    return "started"


def _background_sync(
    app: Flask, user_id: int, token: str, lock: redis.lock.Lock, allow_shrink: tuple[str, ...]
) -> None:
    try:
        with app.app_context():
            user = db.session.get(User, user_id)
            if user is not None:
                sync_user(user, make_api(token), "manual", allow_shrink=allow_shrink, lock=lock)
    except Exception:  # a thread has nobody to raise to
        log.exception("background sync of user %s crashed", user_id)
    finally:
        release_lock(lock)


# -- what the views and the dashboard read ------------------------------------------------------


def last_sync(user: User) -> SyncRun | None:
    """The last sync that refreshed the roster (status ok): "last synced" on the dashboard."""
    return db.session.scalar(
        db.select(SyncRun).filter_by(user_id=user.id, status=OK).order_by(SyncRun.id.desc())
    )


def latest_result(user: User) -> SyncRun | None:
    """The newest finished sync whose outcome still stands (ok, failed or held)."""
    return db.session.scalar(
        db.select(SyncRun)
        .where(SyncRun.user_id == user.id, SyncRun.status.in_((OK, FAILED, HELD)))
        .order_by(SyncRun.id.desc())
    )


def sync_history(user: User, limit: int = 20) -> list[SyncRun]:
    return list(
        db.session.scalars(
            db.select(SyncRun).filter_by(user_id=user.id).order_by(SyncRun.id.desc()).limit(limit)
        )
    )


def pending_held_run(user: User) -> SyncRun | None:
    return db.session.scalar(
        db.select(SyncRun).filter_by(user_id=user.id, status=HELD).order_by(SyncRun.id.desc())
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


def confirm_held(user: User, run: SyncRun) -> StartResult:
    """Apply a held sync: sync again, letting the held classes shrink."""
    shrink = [entry["clever_id"] for entry in held_changes(run)]
    # Answer the run before the sync starts, or the sync would mark it superseded.
    run.status = CONFIRMED
    db.session.commit()
    result = start_background_sync(user, allow_shrink=shrink)
    if result != "started":
        run.status = HELD
        db.session.commit()
    return result


def dismiss_held(run: SyncRun) -> None:
    run.status = DISMISSED
    db.session.commit()


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


def sync_status(user: User) -> dict[str, Any]:
    """For GET /sync/status: idle, running (with done/total), or the latest outcome."""
    client = get_redis()
    try:
        raw = client.hgetall(progress_key(user.id))
        progress = {k.decode(): v.decode() for k, v in raw.items()}
        # A progress hash says "running" after a crash too; the lock (EX 300) does not lie.
        running = progress.get("status") == RUNNING and bool(client.exists(lock_key(user.id)))
    except redis.RedisError:
        progress, running = {}, False
    latest = latest_result(user)

    def number(key: str, default: int) -> int:
        try:
            return int(progress.get(key, default))
        except ValueError:
            return default

    if running:
        status = RUNNING
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


# -- classes: what the dashboard shows -----------------------------------------------------------


def _by_name(sections: Iterable[Section]) -> list[Section]:
    # Sorted here, not in SQL: collations differ between SQLite and PostgreSQL.
    return sorted(sections, key=lambda s: (s.name.casefold(), s.id))


def classes_for_teacher(user: User, include_unselected: bool = False) -> list[Section]:
    """Active classes the teacher actively teaches; by default only the selected ones."""
    query = (
        db.select(Section)
        .join(SectionTeacher, SectionTeacher.section_id == Section.id)
        .outerjoin(
            TeacherSectionPreference,
            (TeacherSectionPreference.section_id == Section.id)
            & (TeacherSectionPreference.teacher_id == user.id),
        )
        .where(
            SectionTeacher.teacher_id == user.id,
            SectionTeacher.archived_at.is_(None),
            Section.archived_at.is_(None),
        )
    )
    if not include_unselected:
        # No preference row yet means selected: new classes default to shown.
        query = query.where(
            TeacherSectionPreference.id.is_(None) | TeacherSectionPreference.selected.is_(True)
        )
    return _by_name(db.session.scalars(query).unique())


def class_selection(user: User) -> list[tuple[Section, bool]]:
    """Every active class of the teacher with whether it is selected (for the form)."""
    selected = {s.id for s in classes_for_teacher(user)}
    return [(s, s.id in selected) for s in classes_for_teacher(user, include_unselected=True)]


def save_class_selection(user: User, section_ids: Collection[int]) -> list[Section]:
    """Keep exactly ``section_ids`` selected among the teacher's classes; return the newly
    selected ones (they need a sync to bring their rosters up to date).

    Ids of classes the teacher does not teach are ignored.
    """
    wanted = set(section_ids)
    prefs = {
        p.section_id: p
        for p in db.session.scalars(
            db.select(TeacherSectionPreference).filter_by(teacher_id=user.id)
        )
    }
    newly_selected = []
    for section in classes_for_teacher(user, include_unselected=True):
        keep = section.id in wanted
        pref = prefs.get(section.id)
        if pref is None:
            db.session.add(
                TeacherSectionPreference(teacher_id=user.id, section_id=section.id, selected=keep)
            )
        elif pref.selected != keep:
            pref.selected = keep
            if keep:
                newly_selected.append(section)
    db.session.commit()
    return newly_selected


def classes_for_student(user: User) -> list[Section]:
    return _by_name(
        db.session.scalars(
            db.select(Section)
            .join(Enrollment, Enrollment.section_id == Section.id)
            .where(
                Enrollment.student_id == user.id,
                Enrollment.archived_at.is_(None),
                Section.archived_at.is_(None),
            )
        ).unique()
    )


def _by_person(people: Iterable[User]) -> list[User]:
    return sorted(people, key=lambda u: (u.last_name.casefold(), u.first_name.casefold(), u.id))


def section_teachers(section: Section) -> list[tuple[User, bool]]:
    """Active teachers of a class as (user, is_primary), the primary teacher first."""
    rows = db.session.execute(
        db.select(User, SectionTeacher.is_primary)
        .join(SectionTeacher, SectionTeacher.teacher_id == User.id)
        .where(SectionTeacher.section_id == section.id, SectionTeacher.archived_at.is_(None))
    ).all()
    primary = {user.id: is_primary for user, is_primary in rows}
    ordered = _by_person(user for user, _ in rows)
    return sorted(((u, primary[u.id]) for u in ordered), key=lambda pair: not pair[1])


def section_students(section: Section) -> list[User]:
    """Active students of a class, by last then first name."""
    return _by_person(
        db.session.scalars(
            db.select(User)
            .join(Enrollment, Enrollment.student_id == User.id)
            .where(Enrollment.section_id == section.id, Enrollment.archived_at.is_(None))
        )
    )


def can_view_section(user: User, section: Section) -> bool:
    """Teachers see classes they actively teach; students classes they are enrolled in.

    Checked against the database on every call, so a roster change applies at once.
    """
    if section.archived_at is not None:
        return False
    if user.is_teacher:
        model, column = SectionTeacher, SectionTeacher.teacher_id
    else:
        model, column = Enrollment, Enrollment.student_id
    found = db.session.scalar(
        db.select(model.id).where(
            model.section_id == section.id, column == user.id, model.archived_at.is_(None)
        )
    )
    return found is not None
