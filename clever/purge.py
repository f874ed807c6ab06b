"""Deleting student data on request: a whole district, one Library teacher, and old archives.

Districts ask for deletion at contract end and on request (Student Privacy Pledge, NDPA). Each
purge is planned first (the ids it would delete, counted per table for ``--dry-run``), then
deleted in one transaction, children before parents. Tokens, sync runs, class choices and live
sessions of the deleted people go too. Nothing here logs a name: only counts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select

from clever.sessions import end_sessions_of
from models import (
    CleverToken,
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

log = logging.getLogger("clever.purge")

IN_CHUNK = 500  # ids per IN (...): well under every database's parameter limit


@dataclass
class Plan:
    """The rows one purge deletes, by primary key."""

    districts: set[int] = field(default_factory=set)
    schools: set[int] = field(default_factory=set)
    sections: set[int] = field(default_factory=set)
    users: set[int] = field(default_factory=set)

    def deletions(self) -> list[tuple[str, type, ColumnElement[bool] | None]]:
        """(label, model, which rows) in the order they must go: children first."""
        users, sections = sorted(self.users), sorted(self.sections)
        return [
            ("tokens", CleverToken, _in(CleverToken.user_id, users)),
            ("sync runs", SyncRun, _in(SyncRun.user_id, users)),
            ("class choices", TeacherSectionPreference, _either(
                TeacherSectionPreference.teacher_id, users,
                TeacherSectionPreference.section_id, sections,
            )),
            ("teaching links", SectionTeacher, _either(
                SectionTeacher.teacher_id, users, SectionTeacher.section_id, sections
            )),
            ("enrollments", Enrollment, _either(
                Enrollment.student_id, users, Enrollment.section_id, sections
            )),
            ("users", User, _in(User.id, users)),
            ("classes", Section, _in(Section.id, sections)),
            ("schools", School, _in(School.id, sorted(self.schools))),
            ("districts", District, _in(District.id, sorted(self.districts))),
        ]  # fmt: skip


def _chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def _in(column: Any, ids: Sequence[int]) -> ColumnElement[bool] | None:
    if not ids:
        return None
    return or_(*(column.in_(chunk) for chunk in _chunks(ids)))


def _either(
    first: Any, first_ids: Sequence[int], second: Any, second_ids: Sequence[int]
) -> ColumnElement[bool] | None:
    parts = [part for part in (_in(first, first_ids), _in(second, second_ids)) if part is not None]
    return or_(*parts) if parts else None


def _ids(query: Any) -> set[int]:
    return set(db.session.scalars(query))


def count(plan: Plan) -> dict[str, int]:
    """Rows per table the plan deletes (what ``--dry-run`` prints)."""
    counts = {}
    for label, model, where in plan.deletions():
        counts[label] = (
            0
            if where is None
            else db.session.scalar(select(func.count()).select_from(model).where(where))
        )
    return counts


def execute(plan: Plan, what: str) -> dict[str, int]:
    """Delete the plan in one transaction; end the deleted people's sessions; log the counts."""
    counts = {}
    try:
        for label, model, where in plan.deletions():
            if where is None:
                counts[label] = 0
                continue
            result = db.session.execute(
                delete(model).where(where), execution_options={"synchronize_session": False}
            )
            counts[label] = result.rowcount
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    for user_id in plan.users:
        end_sessions_of(user_id)
    log.info("purged %s: %s", what, ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts


# -- what each purge covers ---------------------------------------------------------------------


def plan_district(clever_district_id: str) -> Plan | None:
    """A district: its schools, every class of them or of its people, everyone in those classes."""
    district_id = db.session.scalar(select(District.id).filter_by(clever_id=clever_district_id))
    if district_id is None:
        return None
    plan = Plan(districts={district_id})
    plan.schools = _ids(select(School.id).where(School.district_id == district_id))
    plan.users = _ids(select(User.id).where(User.district_id == district_id))
    plan.sections = _ids(select(Section.id).where(_in(Section.school_id, sorted(plan.schools))))
    plan.sections |= _sections_taught_by(plan.users)
    plan.users |= _people_in(plan.sections)
    # Someone whose record says another district belongs to that district, not this one.
    plan.users -= _ids(
        select(User.id).where(User.district_id.is_not(None), User.district_id != district_id)
    )
    return plan


def plan_teacher(clever_user_id: str) -> Plan | None:
    """A Library teacher: them, their classes unless another teacher who has used the app also
    teaches one, and the students then left in no class."""
    teacher = db.session.scalar(select(User).filter_by(clever_id=clever_user_id))
    if teacher is None or not teacher.is_teacher:
        return None
    classes = _sections_taught_by({teacher.id})
    shared = _ids(
        select(SectionTeacher.section_id)
        .join(User, User.id == SectionTeacher.teacher_id)
        .where(
            _in(SectionTeacher.section_id, sorted(classes)),
            SectionTeacher.teacher_id != teacher.id,
            User.last_login_at.is_not(None),
        )
    ) if classes else set()  # fmt: skip
    plan = Plan(sections=classes - shared, users={teacher.id})
    plan.users |= _left_in_no_class(_students_in(plan.sections), plan.sections)
    return plan


def _sections_taught_by(user_ids: Iterable[int]) -> set[int]:
    ids = sorted(user_ids)
    return _ids(select(SectionTeacher.section_id).where(_in(SectionTeacher.teacher_id, ids)))


def _students_in(section_ids: set[int]) -> set[int]:
    ids = sorted(section_ids)
    return _ids(select(Enrollment.student_id).where(_in(Enrollment.section_id, ids)))


def _people_in(section_ids: set[int]) -> set[int]:
    ids = sorted(section_ids)
    teachers = _ids(select(SectionTeacher.teacher_id).where(_in(SectionTeacher.section_id, ids)))
    return teachers | _students_in(section_ids)


def _left_in_no_class(student_ids: set[int], leaving: set[int]) -> set[int]:
    """Those of ``student_ids`` enrolled in no class outside ``leaving``."""
    elsewhere = _ids(
        select(Enrollment.student_id).where(
            _in(Enrollment.student_id, sorted(student_ids)),
            ~Enrollment.section_id.in_(sorted(leaving) or [-1]),
        )
    ) if student_ids else set()  # fmt: skip
    return student_ids - elsewhere


# -- pruning old archives -----------------------------------------------------------------------


def prune_archived(days: int, *, dry_run: bool = False, now: datetime | None = None) -> dict:
    """Delete memberships and classes archived more than ``days`` ago (and the classes' links
    and choices); return the counts. Archived people stay: they may come back in a new class."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    sections = _ids(select(Section.id).where(Section.archived_at < cutoff))
    plan = Plan(sections=sections)
    # Memberships of the classes themselves go with the plan below, counted once.
    other = sorted(sections) or [-1]
    targets = [
        ("teaching links", SectionTeacher,
         (SectionTeacher.archived_at < cutoff) & ~SectionTeacher.section_id.in_(other)),
        ("enrollments", Enrollment,
         (Enrollment.archived_at < cutoff) & ~Enrollment.section_id.in_(other)),
    ]  # fmt: skip
    counts: dict[str, int] = {}
    for label, model, where in targets:
        counts[label] = db.session.scalar(select(func.count()).select_from(model).where(where))
        if not dry_run:
            db.session.execute(delete(model).where(where))
    class_counts = count(plan) if dry_run else execute(plan, f"classes archived before {cutoff}")
    for label in ("class choices", "teaching links", "enrollments", "classes"):
        counts[label] = counts.get(label, 0) + class_counts[label]
    if not dry_run:
        db.session.commit()
        log.info("pruned archives older than %s days: %s", days, counts)
    return counts
