"""What the pages read about classes: a teacher's classes (and which of them they keep
selected), a student's classes, a class's teachers and students, and who may see a class.

Only active rows count: a class, link or enrollment the sync archived is not shown, and comes
back as it was if Clever lists it again. The sync (``clever.sync``) writes these tables; this
module only reads them, except for the teacher's own choice of classes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import NamedTuple, TypeVar

from pyuca import Collator
from sqlalchemy import JSON, Select, bindparam, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased, joinedload
from sqlalchemy.sql.functions import FunctionElement

from clever.config import TUNABLES
from models import (
    Enrollment,
    School,
    Section,
    SectionTeacher,
    TeacherSectionPreference,
    User,
    db,
    full_name,
)

# -- a teacher's or a student's classes ----------------------------------------------------------


# -- reading order ----------------------------------------------------------------------------
# Sorted here, not in SQL: SQLite and PostgreSQL collate differently, and neither by default
# the way a reader expects ("Ángel" among the A's, "Ørsted" among the O's). The Unicode
# Collation Algorithm (DUCET) gives that order in every language the seed and districts use.


@cache
def _collator() -> Collator:
    return Collator()  # loads the DUCET table once (about half a second)


def load_collation() -> None:
    """Load the collation table now (gunicorn.conf.py, before a worker's first request), so
    nobody's first page after a deploy waits half a second for it."""
    _collator()


@lru_cache(maxsize=TUNABLES["COLLATION_KEYS_CACHED"])
def _sort_key(text: str) -> tuple[int, ...]:
    # pyuca is pure Python: without this, sorting was a third of a dashboard's CPU. The same
    # names come back on every page, so each process keeps the keys of the recent ones.
    return _collator().sort_key(text)


@lru_cache(maxsize=TUNABLES["COLLATION_KEYS_CACHED"])
def collation_key(*parts: str | None) -> tuple:
    """Sort key for text made of ``parts`` (e.g. last name, first name): the parts compare
    case- and accent-insensitively first (UCA level 1, each part in turn), then with accents
    and case only to break ties, so "Núñez" and "nunez" sit together, before "Nuñeza".
    Cached like ``_sort_key``: a page sorts the same classes and people on every request."""
    full = [_sort_key(part or "") for part in parts]
    primary = tuple(key[: key.index(0)] if 0 in key else key for key in full)
    return (primary, tuple(full))


_Class = TypeVar("_Class", Section, "ClassRow")


def _by_name(sections: Iterable[_Class]) -> list[_Class]:
    return sorted(sections, key=lambda s: (collation_key(s.name), s.id))


class json_rows(FunctionElement):  # lower case, as SQLAlchemy names SQL functions
    """The aggregated rows' columns as one JSON array of arrays, ``[[a, b], ...]``: each
    database spells it its own way and SQLAlchemy has no portable name for it."""

    type = JSON()
    inherit_cache = True


@compiles(json_rows)
def _json_rows_sqlite(element: json_rows, compiler, **kw) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "postgresql")
def _json_rows_postgresql(element: json_rows, compiler, **kw) -> str:
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"


# The statements a page runs are built once, here, with their values as bind parameters: a
# page reads the viewer's classes on every request, and building and keying a statement costs
# more Python than running it.
_TEACHER = bindparam("teacher_id")


def _taught_by(query: Select) -> Select:
    """``query`` narrowed to the active classes the teacher (bound as ``teacher_id``) actively
    teaches, with the teacher's preference row (selection, kept shrink) outer-joined for it."""
    return (
        query.join(SectionTeacher, SectionTeacher.section_id == Section.id)
        .outerjoin(
            TeacherSectionPreference,
            (TeacherSectionPreference.section_id == Section.id)
            & (TeacherSectionPreference.teacher_id == _TEACHER),
        )
        .where(
            SectionTeacher.teacher_id == _TEACHER,
            SectionTeacher.archived_at.is_(None),
            Section.archived_at.is_(None),
        )
    )


def _selected(query: Select) -> Select:
    """``query`` (of ``_taught_by``) narrowed to the classes the teacher keeps selected."""
    # No preference row yet means selected: new classes default to shown.
    return query.where(
        TeacherSectionPreference.id.is_(None) | TeacherSectionPreference.selected.is_(True)
    )


def classes_for_teacher(user: User, include_unselected: bool = False) -> list[Section]:
    """Active classes the teacher actively teaches; by default only the selected ones."""
    query = _taught_by(db.select(Section))
    if not include_unselected:
        query = _selected(query)
    return _by_name(db.session.scalars(query, {"teacher_id": user.id}).unique())


def class_selection(user: User) -> tuple[tuple[ClassRow, bool], ...]:
    """Every active class of the teacher with whether it is selected (for the form)."""
    return class_list(user).selection()


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


def classes_for_student(user: User) -> list[Section]:
    return _by_name(db.session.scalars(_STUDENT_CLASSES, {"student_id": user.id}).unique())


# -- everything a page shows about the viewer's classes, in one query ----------------------------


@dataclass(frozen=True)
class ClassList:
    """The viewer's active classes as every page piece needs them, read in one query.

    For a teacher: every class they actively teach, with which ones they keep selected, which
    shrinks they chose to keep, and each class's active students; for a student: the classes
    they are enrolled in (no counts: students never see their classmates). Sorted by name.
    """

    classes: list[ClassRow]
    selected_ids: frozenset[int]
    kept_ids: frozenset[int]
    students: dict[int, int]
    shown_students: int = 0  # active students of the selected classes, each counted once
    # Each class's active teachers as the query gave them: [[id, first, last, primary], ...]
    teacher_rows: dict[int, list[list]] = field(default_factory=dict)

    def teachers(self, section_id: int) -> list[tuple[TeacherName, bool]]:
        """The class's active teachers as (name, is_primary), as ``section_teachers`` orders
        them (what a class card shows)."""
        rows = self.teacher_rows.get(section_id) or []
        return _primary_first(
            [(TeacherName(id_, first, last), bool(primary)) for id_, first, last, primary in rows]
        )

    @property
    def shown(self) -> list[ClassRow]:
        """The selected classes: the dashboard's cards and what a sync refreshes."""
        return [section for section in self.classes if section.id in self.selected_ids]

    def get(self, section_id: int) -> ClassRow | None:
        """The class if the viewer may see it (the rule of ``can_view_section``)."""
        return next((s for s in self.classes if s.id == section_id), None)

    def selection(self) -> tuple[tuple[ClassRow, bool], ...]:
        """As ``class_selection``: every class with whether it is selected."""
        return tuple((section, section.id in self.selected_ids) for section in self.classes)


def _enrolled_in(query: Select) -> Select:
    """``query`` narrowed to the active classes the student (bound as ``student_id``) is
    actively enrolled in."""
    return query.join(Enrollment, Enrollment.section_id == Section.id).where(
        Enrollment.student_id == bindparam("student_id"),
        Enrollment.archived_at.is_(None),
        Section.archived_at.is_(None),
    )


_STUDENT_CLASSES = _enrolled_in(db.select(Section).options(joinedload(Section.school)))
_ACTIVE_STUDENTS = (
    db.select(func.count(Enrollment.id))
    .where(Enrollment.section_id == Section.id, Enrollment.archived_at.is_(None))
    .correlate(Section)
    .scalar_subquery()
)
# The same for every row (it correlates nothing), so the database works it out once.
_SHOWN_STUDENTS = (
    db.select(func.count(func.distinct(Enrollment.student_id)))
    .where(
        Enrollment.section_id.in_(_selected(_taught_by(db.select(Section.id))).correlate(None)),
        Enrollment.archived_at.is_(None),
    )
    .correlate(None)
    .scalar_subquery()
)
# Each class's active teachers, so the cards' names come with the class list: one query
# fewer per page. Aliases, as the teacher's own query joins section_teachers too.
_CLASS_TEACHER = aliased(SectionTeacher)
_CLASS_TEACHER_USER = aliased(User)
_CLASS_TEACHERS = (
    db.select(
        json_rows(
            _CLASS_TEACHER_USER.id,
            _CLASS_TEACHER_USER.first_name,
            _CLASS_TEACHER_USER.last_name,
            _CLASS_TEACHER.is_primary,
        )
    )
    .select_from(_CLASS_TEACHER)
    .join(_CLASS_TEACHER_USER, _CLASS_TEACHER_USER.id == _CLASS_TEACHER.teacher_id)
    .where(_CLASS_TEACHER.section_id == Section.id, _CLASS_TEACHER.archived_at.is_(None))
    .correlate(Section)
    .scalar_subquery()
)


class ClassRow(NamedTuple):
    """A class as the pages show it: a section's columns and its school's name, as plain values.
    A page reads every class of the viewer on every request, and ORM entities (with their
    school joined) cost about twice as much to load as the row itself."""

    id: int
    name: str
    subject: str | None
    grade: str | None
    period: str | None
    section_number: str | None
    course_name: str | None
    term_name: str | None
    school_name: str | None


_CLASS_ROW = (  # ClassRow's fields, in order
    Section.id,
    Section.name,
    Section.subject,
    Section.grade,
    Section.period,
    Section.section_number,
    Section.course_name,
    Section.term_name,
    School.name,
)
_WIDTH = len(_CLASS_ROW)


def _with_school(query: Select) -> Select:
    return query.outerjoin(School, School.id == Section.school_id)


_TEACHER_CLASSES = _taught_by(
    _with_school(
        db.select(
            *_CLASS_ROW,
            TeacherSectionPreference.selected,
            TeacherSectionPreference.kept_shrink,
            _ACTIVE_STUDENTS,
            _SHOWN_STUDENTS,
            _CLASS_TEACHERS,
        )
    )
)
_STUDENT_CLASS_LIST = _enrolled_in(_with_school(db.select(*_CLASS_ROW, _CLASS_TEACHERS)))


def class_list(user: User) -> ClassList:
    """The viewer's classes (see ``ClassList``); each class's school and teachers come in the
    same query."""
    if not user.is_teacher:
        rows = db.session.execute(_STUDENT_CLASS_LIST, {"student_id": user.id}).all()
        ordered = _by_name(ClassRow._make(row[:_WIDTH]) for row in rows)
        return ClassList(
            classes=ordered,
            selected_ids=frozenset(s.id for s in ordered),
            kept_ids=frozenset(),
            students={},
            teacher_rows={row[0]: row[_WIDTH] for row in rows},
        )
    rows = db.session.execute(_TEACHER_CLASSES, {"teacher_id": user.id}).all()
    extras = [(row[0], *row[_WIDTH:]) for row in rows]  # (id, selected, kept, count, ...)
    return ClassList(
        classes=_by_name(ClassRow._make(row[:_WIDTH]) for row in rows),
        # No preference row yet means selected: new classes default to shown.
        selected_ids=frozenset(id_ for id_, selected, *_ in extras if selected is not False),
        kept_ids=frozenset(id_ for id_, _, kept, *_ in extras if kept is not None),
        students={id_: count for id_, _, _, count, *_ in extras},
        shown_students=extras[0][4] if extras else 0,
        teacher_rows={id_: teachers for id_, *_, teachers in extras},
    )


# -- a class's people, and who may see it --------------------------------------------------------


def _person_key(user: User) -> tuple:
    return (collation_key(user.last_name, user.first_name), user.id)


def _by_person(people: Iterable[User]) -> list[User]:
    return sorted(people, key=_person_key)


def section_teachers(section: Section | ClassRow) -> list[tuple[User, bool]]:
    """Active teachers of a class as (user, is_primary), the primary teacher first."""
    rows = db.session.execute(_TEACHERS_OF, {"section_ids": [section.id]}).all()
    return _primary_first([(user, is_primary) for _, user, is_primary in rows])


_TEACHERS_OF = (
    db.select(SectionTeacher.section_id, User, SectionTeacher.is_primary)
    .join(SectionTeacher, SectionTeacher.teacher_id == User.id)
    .where(
        SectionTeacher.section_id.in_(bindparam("section_ids", expanding=True)),
        SectionTeacher.archived_at.is_(None),
    )
)


class TeacherName(NamedTuple):
    """What a class card shows of a teacher: a row, not a User (a dashboard reads dozens)."""

    id: int
    first_name: str | None
    last_name: str | None

    @property
    def display_name(self) -> str:
        return full_name(self.first_name, self.last_name)


def _primary_first(pairs: list[tuple[User, bool]]) -> list[tuple[User, bool]]:
    by_name = sorted(pairs, key=lambda pair: _person_key(pair[0]))
    return sorted(by_name, key=lambda pair: not pair[1])  # stable: by name within each group


# Clever's grade values in school order; numbers sit between Kindergarten and PostGraduate.
_GRADES_BEFORE = ("InfantToddler", "Preschool", "PreKindergarten", "TransitionalKindergarten")
_GRADES_AFTER = ("PostGraduate", "Ungraded", "Other")


def grade_rank(grade: str | None) -> int:
    grade = (grade or "").strip()
    if grade.isdigit():
        return int(grade)
    if grade == "Kindergarten":
        return 0
    if grade in _GRADES_BEFORE:
        return _GRADES_BEFORE.index(grade) - len(_GRADES_BEFORE)
    if grade in _GRADES_AFTER:
        return 100 + _GRADES_AFTER.index(grade)
    return 200  # unknown or missing: last


def by_grade(students: Iterable[User]) -> list[User]:
    """Students by grade in school order, then by name (the input's order: keep it sorted)."""
    return sorted(students, key=lambda u: grade_rank(u.grade))


def section_students(section: Section | ClassRow) -> list[User]:
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
