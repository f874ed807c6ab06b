"""Applying one Snapshot to the database, for one user, in the caller's transaction.

Upserts by Clever id, archives (``archived_at``) what disappeared, restores the same row when it
comes back, never deletes. Nothing is assigned unless it differs, so a re-sync with nothing
changed writes nothing. Everything is read, and the mass-change guard checked, before the first
write. The guard holds only the classes it trips on: their enrollments stay as they are while
every other change of the sync applies.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from flask import current_app

from clever.sync.read import Snapshot
from clever.upsert import insert_missing
from models import (
    ROLE_STUDENT,
    ROLE_TEACHER,
    TEACHER_LIKE_ROLES,
    District,
    Enrollment,
    School,
    Section,
    SectionTeacher,
    TeacherSectionPreference,
    User,
    clip,
    db,
    utcnow,
)

# The whole package logs as "clever.sync" (not __name__), as the sync always has.
log = logging.getLogger("clever.sync")

# The mass-change guard: classes this big or bigger may lose at most half their students.
GUARD_MIN_STUDENTS = 5
IN_CHUNK = 500  # ids per IN (...) clause: well under every database's parameter limit


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def _select_in(model: type, column: Any, values: Iterable[Any]) -> list[Any]:
    found: list[Any] = []
    for chunk in _chunks(sorted(set(values))):
        found.extend(db.session.scalars(db.select(model).where(column.in_(chunk))))
    return found


class LightRow:
    """A row read as plain values, not as an ORM instance: a sync compares hundreds of people
    and enrollments, and building an instance for each was the biggest cost of a returning
    login. Assignments are kept and written back with ``write_back`` (nothing when none)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)  # read as plain attributes
        self.__dict__["_changed"] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value
        self._changed[name] = value


def _light_in(model: type, column: Any, values: Iterable[Any], names: Sequence[str]) -> list:
    """Like ``_select_in``, as ``LightRow``s of the columns ``names``."""
    table = model.__table__  # type: ignore[attr-defined]
    query = db.select(*(table.c[name] for name in names))
    found: list[LightRow] = []
    for chunk in _chunks(sorted(set(values))):
        rows = db.session.execute(query.where(column.in_(chunk)))
        found.extend(LightRow(dict(zip(names, row, strict=True))) for row in rows)
    return found


def write_back(model: type, rows: Iterable[Any]) -> None:
    """One UPDATE per distinct change of the ``LightRow``s among ``rows`` (ORM rows flush on
    their own)."""
    by_change: dict[tuple[tuple[str, Any], ...], list[int]] = {}
    for row in rows:
        if isinstance(row, LightRow) and row._changed:
            by_change.setdefault(tuple(sorted(row._changed.items())), []).append(row.id)
            row._changed.clear()
    table = model.__table__  # type: ignore[attr-defined]
    for change, ids in by_change.items():
        for chunk in _chunks(sorted(ids)):
            db.session.execute(table.update().where(table.c.id.in_(chunk)).values(dict(change)))


PERSON_COLUMNS = ("id", "clever_id", "first_name", "middle_name", "last_name", "email", "grade")
ENROLLMENT_COLUMNS = ("id", "section_id", "student_id", "archived_at")


@dataclass
class Counts:
    """Roster entries (classes, enrollments, teaching links) added, archived or restored;
    ``updated`` counts changed classes, people and links."""

    added: int = 0
    updated: int = 0
    archived: int = 0
    restored: int = 0


SECTION_FIELDS = ("subject", "grade", "period", "section_number")
# What Apply.load reads from the database (by the snapshot's classes and people).
LOADED_ROWS = (
    "own_rows",
    "sections_by_cid",
    "users_by_cid",
    "links",
    "enrolled",
    "cid_by_user_id",
    "preferred",
    "kept",
)
USER_NAME_FIELDS = (("first_name", "first"), ("middle_name", "middle"), ("last_name", "last"))


class Apply:
    """Turns one Snapshot into database changes for one user (request thread only)."""

    def __init__(
        self,
        user: User,
        snap: Snapshot,
        *,
        allow_shrink: Collection[str] = (),
        outline: Apply | None = None,
    ) -> None:
        self.new_school: School | None = None
        self.user = user
        self.snap = snap
        self.teacher = user.is_teacher
        self.allow_shrink = set(allow_shrink)
        self.now = utcnow()
        self.counts = Counts()
        self.listed = {s["id"]: s for s in snap.sections}
        # What the guard decided (check_guard): the classes held for the teacher, the classes
        # whose enrollments stay untouched (held or kept), and decisions that no longer apply.
        self.held: list[dict[str, Any]] = []
        self.untouched: set[str] = set()
        self.moot: list[int] = []
        self.outline = outline

    # The order matters: everything is read and the guard checked before the first write.
    # Rows nobody has yet are inserted with the database's upsert (``insert_missing``), so a
    # concurrent sync that inserts the same student or class first makes ours wait, not fail.
    def run(self) -> Counts:
        if not self.snap.rosters_shared:
            # A district that shares no rosters: record who the district is, touch no class.
            with db.session.no_autoflush:
                self.organisations()
            return self.counts
        self.load()
        self.check_guard()
        with db.session.no_autoflush:
            self.organisations()
            self.people()
            self.sections()
        db.session.flush()  # changes to known rows, before links name them
        write_back(User, self.users_by_cid.values())
        with db.session.no_autoflush:
            self.teaching_links()
            self.enrollments()
            self.preferences()
        write_back(Enrollment, (row for rows in self.enrolled.values() for row in rows.values()))
        return self.counts

    # -- reads --------------------------------------------------------------------------

    def load(self) -> None:
        """Read every row the apply compares against (a few bulk queries, no writes), or take
        them from ``outline`` (``load_outline``: read while the last answers were still out)
        if it names the same classes and people."""
        self.load_members()
        outline = self.outline
        if outline is not None and self._same_people(outline):
            for name in LOADED_ROWS:
                setattr(self, name, getattr(outline, name))
            return
        self.load_sections()
        self.load_people()
        self.load_links()
        self.load_enrollments()
        self.load_kept()

    def _same_people(self, other: Apply) -> bool:
        return (
            other.user is self.user
            and other.listed.keys() == self.listed.keys()
            and other.snap.members.keys() == self.snap.members.keys()
            and other.records.keys() == self.records.keys()
        )

    def load_sections(self) -> None:
        """The user's own links or enrollments with their classes, and the listed classes."""
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

    def load_members(self) -> None:
        """Who is in each section we read, split into teachers and students."""
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
        records.pop(self.user.clever_id, None)  # the login keeps the user's own profile
        self.records = records

    def load_people(self) -> None:
        """The rows of everyone read, by Clever id (the user included)."""
        self.users_by_cid: dict[str, Any] = {self.user.clever_id: self.user}  # User, LightRow
        for person in _light_in(User, User.clever_id, self.records, PERSON_COLUMNS):
            self.users_by_cid[person.clever_id] = person

    def load_links(self) -> None:
        """Every teaching link, archived ones included, of every class we know."""
        known_ids = [s.id for s in self.sections_by_cid.values()]
        self.links: dict[int, dict[int, SectionTeacher]] = {}
        for link in _select_in(SectionTeacher, SectionTeacher.section_id, known_ids):
            self.links.setdefault(link.section_id, {})[link.teacher_id] = link

    def load_enrollments(self) -> None:
        """A teacher sync: every enrollment of the classes read, and whose each one is (the
        guard compares students by Clever id, including students nobody read this time)."""
        self.enrolled: dict[int, dict[int, LightRow]] = {}
        if self.teacher:
            read_ids = [
                self.sections_by_cid[cid].id
                for cid in self.snap.members
                if cid in self.sections_by_cid
            ]
            for row in _light_in(Enrollment, Enrollment.section_id, read_ids, ENROLLMENT_COLUMNS):
                self.enrolled.setdefault(row.section_id, {})[row.student_id] = row
        self.cid_by_user_id = {u.id: cid for cid, u in self.users_by_cid.items()}
        if self.enrolled:
            unknown = {
                sid
                for rows in self.enrolled.values()
                for sid in rows
                if sid not in self.cid_by_user_id
            }
            for person in _light_in(User, User.id, unknown, ("id", "clever_id")):
                self.cid_by_user_id[person.id] = person.clever_id or ""

    def load_kept(self) -> None:
        """The classes this teacher has a preference row for (``preferences`` adds the rest),
        and the shrinks they chose to keep, by section id (fingerprints)."""
        self.preferred: set[int] = set()
        self.kept: dict[int, str] = {}
        if self.teacher:
            rows = db.session.execute(
                db.select(
                    TeacherSectionPreference.section_id, TeacherSectionPreference.kept_shrink
                ).filter_by(teacher_id=self.user.id)
            )
            for section_id, fingerprint in rows:
                self.preferred.add(section_id)
                if fingerprint is not None:
                    self.kept[section_id] = fingerprint

    def check_guard(self) -> None:
        """Hold each class of 5+ that would lose more than half its students: its enrollments
        stay untouched (``self.untouched``) while the rest applies. A shrink the teacher chose
        to keep (the same leaving students) stays kept without asking again; a decision whose
        shrink is gone (or was confirmed) is moot and cleared, so a later shrink asks again."""
        for cid, students in self.section_students.items():
            section = self.sections_by_cid.get(cid)
            if section is None:
                continue
            change = self._shrink(section, set(students))
            kept = self.kept.get(section.id)
            if change is None or cid in self.allow_shrink:
                if kept is not None:
                    self.moot.append(section.id)
                continue
            self.untouched.add(cid)
            if change["fingerprint"] != kept:
                self.held.append(change)

    def _shrink(self, section: Section, students: set[str]) -> dict[str, Any] | None:
        """What the guard shows the teacher, if it trips on ``section``; else None."""
        rows = self.enrolled.get(section.id, {})
        active = {
            self.cid_by_user_id.get(uid) for uid, row in rows.items() if row.archived_at is None
        }
        leaving = active - students
        if len(active) < GUARD_MIN_STUDENTS or len(leaving) * 2 <= len(active):
            return None
        return {
            "section_id": section.id,
            "clever_id": section.clever_id,
            "name": section.name,
            "active_students": len(active),
            "would_archive": len(leaving),
            "would_add": len(students - active),
            # Which students would leave, as a digest: the decision is about this very change.
            "fingerprint": hashlib.sha256(
                "\n".join(sorted(cid or "" for cid in leaving)).encode()
            ).hexdigest(),
        }

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

    def _create(
        self, model: type, rows: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, Any], set[str]]:
        """Insert the rows (by Clever id) nobody has; every one of them as loaded rows, and the
        Clever ids this sync inserted (the others came from a concurrent sync meanwhile)."""
        inserted = insert_missing(
            model, ({"clever_id": cid, **values} for cid, values in rows.items()), ("clever_id",)
        )
        found = {row.clever_id: row for row in _select_in(model, model.clever_id, rows)}
        return found, {cid for (cid,) in inserted}

    def _update(self, row: Any, values: dict[str, Any]) -> bool:
        """Assign what changed; never blank out what we have (a reduced record omits fields)."""
        return any([self._set(row, column, value) for column, value in values.items() if value])

    def organisations(self) -> None:
        district = self._organisation(District, self.snap.district)
        school = self._organisation(School, self.snap.school)
        self.new_school = school
        if school is not None and district is not None and school.district_id is None:
            school.district_id = district.id
        user = self.user
        if district is not None and user.district_id != district.id:
            user.district_id = district.id
        if school is not None and user.school_id != school.id:
            user.school_id = school.id

    def _organisation(self, model: type, record: dict[str, Any] | None) -> Any:
        if record is None:
            return None  # not read: still fresh, or refused
        name = clip(model, "name", record.get("name"))
        row = db.session.scalar(db.select(model).filter_by(clever_id=record["id"]))
        if row is None:
            found, inserted = self._create(
                model, {record["id"]: {"name": name or "", "clever_read_at": self.now}}
            )
            row = found[record["id"]]
            if record["id"] in inserted:
                return row
        self._update(row, {"name": name, "clever_read_at": self.now})
        return row

    def people(self) -> None:
        new: dict[str, dict[str, Any]] = {}
        known: dict[str, dict[str, Any]] = {}
        for cid, (record, role) in self.records.items():
            name = record.get("name") or {}
            values = {column: clip(User, column, name.get(key)) for column, key in USER_NAME_FIELDS}
            values["email"] = clip(User, "email", record.get("email"))
            roles = record.get("roles") or {}
            values["grade"] = clip(User, "grade", (roles.get("student") or {}).get("grade"))
            person = self.users_by_cid.get(cid)
            known[cid] = values
            if person is None:
                # No last_login_at: the login tells a first login by its absence.
                new[cid] = values | {
                    "first_name": values["first_name"] or "",
                    "last_name": values["last_name"] or "",
                    "role": role,
                    "clever_roles": ",".join(sorted(roles))[:200],
                }
            elif self._update(person, values):
                self.counts.updated += 1
        found, inserted = self._create(User, new)
        self.users_by_cid.update(found)
        for cid in new.keys() - inserted:  # a concurrent sync stored them a moment ago
            self._update(found[cid], known[cid])

    def section_schools(self) -> dict[str, int]:
        """Ids of the schools the listed sections name, by Clever id: known rows, plus rows
        (upserted) for the schools a district login read; a Library login reads and names none.
        """
        wanted = {r["school"] for r in self.listed.values() if isinstance(r.get("school"), str)}
        wanted |= set(self.snap.schools)
        schools = {s.clever_id: s for s in _select_in(School, School.clever_id, wanted)}
        if self.new_school is not None:
            schools[self.new_school.clever_id] = self.new_school
        district_id = self.user.district_id
        read = {
            cid: clip(School, "name", record.get("name"))
            for cid, record in self.snap.schools.items()
        }
        found, _ = self._create(
            School,
            {cid: {"name": name or "", "district_id": district_id, "clever_read_at": self.now}
             for cid, name in read.items() if cid not in schools},
        )  # fmt: skip
        schools.update(found)
        for cid, name in read.items():
            school = schools[cid]
            if name:
                self._set(school, "name", name)
            self._set(school, "clever_read_at", self.now)
            if school.district_id is None and district_id is not None:
                school.district_id = district_id
        return {cid: school.id for cid, school in schools.items()}

    def _reference_names(self, record: dict[str, Any]) -> dict[str, str | None]:
        """Course and term names of a district section whose course and term were read.

        A key Clever left out (Library view), or a lookup that failed, leaves our value alone;
        a null reference clears it.
        """
        names: dict[str, str | None] = {}
        for column, key, found in (
            ("course_name", "course", self.snap.courses),
            ("term_name", "term_id", self.snap.terms),
        ):
            if key not in record:
                continue
            ref = record[key]
            if not ref:
                names[column] = None
            elif ref in found:
                names[column] = clip(Section, column, found[ref].get("name"))
        return names

    def sections(self) -> None:
        schools = self.section_schools()
        pending: dict[str, dict[str, Any]] = {}
        for cid, record in self.listed.items():
            values = self._section_values(record, schools)
            section = self.sections_by_cid.get(cid)
            if section is None:
                pending[cid] = values
                continue
            self._restore(section)
            if self._update_section(section, values):
                self.counts.updated += 1
        new = {cid: v | {"name": v.get("name") or "Untitled class"} for cid, v in pending.items()}
        found, inserted = self._create(Section, new)
        self.sections_by_cid.update(found)
        self.counts.added += len(inserted)
        for cid in new.keys() - inserted:  # a concurrent sync stored it a moment ago
            self._restore(found[cid])
            self._update_section(found[cid], pending[cid])

    def _section_values(self, record: dict[str, Any], schools: dict[str, int]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        name = clip(Section, "name", record.get("name"))
        if name:
            values["name"] = name
        # A key Clever left out (Library view) leaves our value alone; null clears it.
        for column in SECTION_FIELDS:
            if column in record:
                values[column] = clip(Section, column, record[column])
        values.update(self._reference_names(record))
        school_id = schools.get(record.get("school") or "")
        if school_id is not None:
            values["school_id"] = school_id
        return values

    def _update_section(self, section: Section, values: dict[str, Any]) -> bool:
        return any([self._set(section, column, value) for column, value in values.items()])

    def _link(self, section: Section, person: User, primary: bool) -> None:
        links = self.links.setdefault(section.id, {})
        link = links.get(person.id)
        if link is None:
            # Not added to the session: ``_insert_new`` writes these with one upsert.
            link = SectionTeacher(section_id=section.id, teacher_id=person.id, is_primary=primary)
            links[person.id] = link
            self.new_links.append(link)
            return
        self._restore(link)
        if self._set(link, "is_primary", primary):
            self.counts.updated += 1

    def teaching_links(self) -> None:
        """Each listed class's teachers as Clever lists them; end the classes a teacher left."""
        self.new_links: list[SectionTeacher] = []
        for cid, record in self.listed.items():
            self._class_links(cid, record)
        if self.teacher:
            self._end_classes_left()
        rows = [
            {"section_id": x.section_id, "teacher_id": x.teacher_id, "is_primary": x.is_primary}
            for x in self.new_links
        ]
        self._insert_new(SectionTeacher, rows, ("section_id", "teacher_id"))

    def _class_links(self, cid: str, record: dict[str, Any]) -> None:
        me = self.user
        section = self.sections_by_cid[cid]
        primary = record.get("teacher")
        if self.teacher:
            self._link(section, me, primary == me.clever_id)
        teachers = self.section_teachers.get(cid)
        if teachers is None:
            return  # not read (an unselected class): its other links stay as they are
        keep = {me.id} if self.teacher else set()
        for tid in teachers:
            person = self.users_by_cid.get(tid)
            if person is not None:
                self._link(section, person, primary == tid)
                keep.add(person.id)
        for teacher_id, link in self.links.get(section.id, {}).items():
            if teacher_id not in keep:
                self._archive(link)

    def _end_classes_left(self) -> None:
        """Classes the teacher no longer has: end their link, and the class itself when
        nobody teaches it any more (it comes back, same row, if it reappears)."""
        for cid, link in self.own_rows.items():
            if cid in self.listed or link.archived_at is not None:
                continue
            self._archive(link)
            section = self.sections_by_cid[cid]
            others = self.links.get(section.id, {})
            if all(other.archived_at is not None for other in others.values()):
                self._archive(section)

    def enrollments(self) -> None:
        self.new_enrollments: list[dict[str, int]] = []
        if self.teacher:
            self._class_enrollments()
        else:
            self._own_enrollments()
        self._insert_new(Enrollment, self.new_enrollments, ("section_id", "student_id"))

    def _insert_new(self, model: type, rows: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
        """New links or enrollments; one a concurrent sync inserted first is not ours to count
        (it was inserted active, as this sync would have)."""
        self.counts.added += len(insert_missing(model, rows, keys))

    def _own_enrollments(self) -> None:
        """A student sync: the student is enrolled in exactly the classes listed."""
        for cid in self.listed:
            self._enroll(self.sections_by_cid[cid], self.user.id, self.own_rows.get(cid))
        for cid, row in self.own_rows.items():
            if cid not in self.listed:
                self._archive(row)

    def _class_enrollments(self) -> None:
        """A teacher sync: each class read has exactly the students Clever listed."""
        for cid, students in self.section_students.items():
            if cid in self.untouched:
                continue  # held by the guard: the class keeps its last roster
            section = self.sections_by_cid[cid]
            rows = self.enrolled.get(section.id, {})
            present = set()
            for sid in students:
                person = self.users_by_cid[sid]
                present.add(person.id)
                self._enroll(section, person.id, rows.get(person.id))
            for student_id, row in rows.items():
                if student_id not in present:
                    self._archive(row)

    def _enroll(self, section: Section, student_id: int, row: Any) -> None:
        """A new enrollment, or the existing one restored."""
        if row is None:
            self.new_enrollments.append({"section_id": section.id, "student_id": student_id})
        else:
            self._restore(row)

    def preferences(self) -> None:
        """New classes start selected: a row on first sight, never touched again here."""
        if not self.teacher:
            return
        # ``preferred`` was read with the rest (load_kept); a row another sync inserted since
        # is left as it is by the upsert.
        rows = [
            {"teacher_id": self.user.id, "section_id": section.id, "selected": True}
            for section in (self.sections_by_cid[cid] for cid in self.listed)
            if section.id not in self.preferred
        ]
        insert_missing(TeacherSectionPreference, rows, ("teacher_id", "section_id"))
        if self.moot:
            db.session.execute(
                db.update(TeacherSectionPreference)
                .where(
                    TeacherSectionPreference.teacher_id == self.user.id,
                    TeacherSectionPreference.section_id.in_(self.moot),
                )
                .values(kept_shrink=None)
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
        elif uid in student_ids or not any(role in roles for role in TEACHER_LIKE_ROLES):
            students[uid] = record
        else:
            teachers[uid] = record
    return teachers, students


def fresh_organisations(district_clever_id: str | None) -> frozenset[str]:
    """Clever ids of this district and of its schools whose records were read less than
    ``CLEVER_ORGANISATION_MAX_AGE_HOURS`` ago: a sync does not read them again."""
    if not district_clever_id:
        return frozenset()
    hours = current_app.config["CLEVER_ORGANISATION_MAX_AGE_HOURS"]
    cutoff = utcnow() - timedelta(hours=hours)
    district = db.session.execute(
        db.select(District.id, District.clever_read_at).filter_by(clever_id=district_clever_id)
    ).first()
    if district is None:
        return frozenset()
    fresh = set(
        db.session.scalars(
            db.select(School.clever_id).where(
                School.district_id == district.id, School.clever_read_at >= cutoff
            )
        )
    )
    read_at = district.clever_read_at
    # SQLite hands timestamps back naive; they were stored in UTC.
    if read_at is not None and read_at.replace(tzinfo=read_at.tzinfo or UTC) >= cutoff:
        fresh.add(district_clever_id)
    return frozenset(fresh)


def load_outline(user: User, outline: Snapshot) -> Apply:
    """The rows an apply of ``outline``'s read will compare against, read now (while its last
    answers, which name no one new, are still on their way): see ``Apply.load``."""
    apply = Apply(user, outline)
    apply.load()
    return apply


def apply_or_hold(
    user: User, snap: Snapshot, allow_shrink: Collection[str], outline: Apply | None = None
) -> tuple[Counts, dict[str, Any] | None]:
    """(what changed, None), or (what changed, the held classes) when the guard held some.
    ``outline``: rows read ahead by ``load_outline`` in this transaction.

    Everything is written (flushed) before it returns, so a database that aborts the
    transaction says so here, while the caller can still apply again from the start.
    """
    apply = Apply(user, snap, allow_shrink=allow_shrink, outline=outline)
    counts = apply.run()
    db.session.flush()
    return counts, {"sections": apply.held} if apply.held else None
