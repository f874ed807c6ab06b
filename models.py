"""Every model of the app (typed SQLAlchemy 2.0).

Clever ids are unique and indexed; email is stored but never used as a key. Roster links are
archived (``archived_at``) rather than deleted, so teachers' work survives a roster hiccup.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache

from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


# A commit does not expire what this session has loaded: a request that commits and reads on
# (the login: the account, its token, its sync run) would otherwise reload each row it touches
# again, one SELECT each. Nothing reads a row another transaction may have changed since
# (a request's own rows, under the user's sync lock); a rollback still expires everything.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


def utcnow() -> datetime:
    return datetime.now(UTC)


def full_name(first: str | None, last: str | None) -> str:
    """How a person is named on every page: "First Last", or "Unnamed" when Clever gave none."""
    return " ".join(part for part in (first, last) if part) or "Unnamed"


# Timestamps are stored timezone-aware so SQLite and PostgreSQL compare alike.
Timestamp = DateTime(timezone=True)

ROLE_TEACHER = "teacher"
ROLE_STUDENT = "student"
# Clever roles that get the teacher experience: staff and district admins too (architecture
# section 5, step 6). A section member holding one of them is a teacher of it.
TEACHER_LIKE_ROLES = ("teacher", "staff", "district_admin")


# Line breaks, tabs and other separators among the C0 controls: a run of them becomes one space.
SEPARATORS = re.compile("[\t\n\v\f\r\x1c-\x1f\u2028\u2029]+")
# Every other C0 control character, and DEL: dropped.
CONTROLS = re.compile("[\x00-\x1f\x7f]")


def clip(model: type, column: str, value: object) -> str | None:
    """``value`` as clean, stripped text cut to ``model.column``'s length, or None when empty.

    Clever sets no maximum length. PostgreSQL raises on an over-long VARCHAR while SQLite
    ignores the length: cut here, so both databases store the same thing and an over-long name
    cannot fail a login or a sync in production only. Control characters go too: PostgreSQL
    refuses U+0000 in text outright, and a tab or a newline has no place in a name.
    """
    if value is None:
        return None
    if isinstance(value, str) and value.isprintable():
        text = value.strip()  # no control or separator character: the usual case, and quick
    else:
        text = CONTROLS.sub("", SEPARATORS.sub(" ", str(value))).strip()
    limit = _length_of(model, column)
    if limit is not None:
        text = text[:limit]
    return text or None


@cache
def _length_of(model: type, column: str) -> int | None:
    return getattr(model.__table__.c[column].type, "length", None)  # type: ignore[attr-defined]


class District(db.Model):
    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    clever_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)
    # When Clever's record was last read: a login reads it again only a day later.
    clever_read_at: Mapped[datetime | None] = mapped_column(Timestamp)


class School(db.Model):
    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    clever_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(300))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)
    # When Clever's record was last read: a login reads it again only a day later.
    clever_read_at: Mapped[datetime | None] = mapped_column(Timestamp)

    district: Mapped[District | None] = relationship()


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Null for local-only accounts made before the person ever used Clever.
    clever_id: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    first_name: Mapped[str] = mapped_column(String(300), default="")
    middle_name: Mapped[str | None] = mapped_column(String(300))
    last_name: Mapped[str] = mapped_column(String(300), default="")
    # Never a key: Clever emails are unverified and often missing.
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(20), default=ROLE_TEACHER)
    # Every Clever role the user holds, comma-separated, e.g. "staff,teacher".
    clever_roles: Mapped[str] = mapped_column(String(200), default="")
    grade: Mapped[str | None] = mapped_column(String(40))
    authorized_by: Mapped[str | None] = mapped_column(String(40))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    # The email a local (pre-Clever) account signs in with, lower-cased. Kept apart from
    # ``email`` so a Clever login, which rewrites ``email``, never changes how they sign in.
    login_email: Mapped[str | None] = mapped_column(String(320), unique=True, index=True)
    # Onboarding: fields our product needs that Clever may not give.
    contact_email: Mapped[str | None] = mapped_column(String(320))
    school_name: Mapped[str | None] = mapped_column(String(300))
    onboarded_at: Mapped[datetime | None] = mapped_column(Timestamp)
    link_offer_decided_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(Timestamp)

    district: Mapped[District | None] = relationship()
    school: Mapped[School | None] = relationship()

    @property
    def display_name(self) -> str:
        return full_name(self.first_name, self.last_name)

    @property
    def is_teacher(self) -> bool:
        return self.role == ROLE_TEACHER

    @property
    def is_student(self) -> bool:
        return self.role == ROLE_STUDENT

    @property
    def role_label(self) -> str:
        roles = set(filter(None, self.clever_roles.split(",")))
        if self.is_student:
            return "Student"
        if "district_admin" in roles:
            return "District admin"
        if "staff" in roles and "teacher" not in roles:
            return "Staff"
        return "Teacher"

    @property
    def organisation_name(self) -> str | None:
        if self.school is not None:
            return self.school.name
        if self.school_name:
            return self.school_name
        if self.district is not None:
            return self.district.name
        return None


class Section(db.Model):
    __tablename__ = "sections"

    id: Mapped[int] = mapped_column(primary_key=True)
    clever_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str | None] = mapped_column(String(100))
    grade: Mapped[str | None] = mapped_column(String(40))
    period: Mapped[str | None] = mapped_column(String(40))
    section_number: Mapped[str | None] = mapped_column(String(100))
    course_name: Mapped[str | None] = mapped_column(String(300))
    term_name: Mapped[str | None] = mapped_column(String(300))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"))
    archived_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)

    school: Mapped[School | None] = relationship()
    teacher_links: Mapped[list[SectionTeacher]] = relationship(back_populates="section")
    enrollments: Mapped[list[Enrollment]] = relationship(back_populates="section")


class SectionTeacher(db.Model):
    __tablename__ = "section_teachers"
    __table_args__ = (UniqueConstraint("section_id", "teacher_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("sections.id"), index=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[datetime | None] = mapped_column(Timestamp)

    section: Mapped[Section] = relationship(back_populates="teacher_links")
    teacher: Mapped[User] = relationship()


class Enrollment(db.Model):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("section_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("sections.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    archived_at: Mapped[datetime | None] = mapped_column(Timestamp)

    section: Mapped[Section] = relationship(back_populates="enrollments")
    student: Mapped[User] = relationship()


class TeacherSectionPreference(db.Model):
    """Which of a teacher's classes are surfaced and synced; new classes default to selected."""

    __tablename__ = "teacher_section_preferences"
    __table_args__ = (UniqueConstraint("teacher_id", "section_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("sections.id"))
    selected: Mapped[bool] = mapped_column(Boolean, default=True)
    # A shrink the mass-change guard held and the teacher chose to keep: a fingerprint of the
    # students it would have removed. The same shrink is then kept without asking; another asks.
    kept_shrink: Mapped[str | None] = mapped_column(String(64))


class CleverToken(db.Model):
    __tablename__ = "clever_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True, index=True)
    # Fernet ciphertext; the plaintext token never touches the database.
    encrypted_token: Mapped[bytes] = mapped_column(LargeBinary)
    issued_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class SyncRun(db.Model):
    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(20))  # "login" or "manual"
    status: Mapped[str] = mapped_column(String(20))  # running, ok, failed, held
    started_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    sections_total: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    archived: Mapped[int] = mapped_column(Integer, default=0)
    restored: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(300))
    # A held sync's would-be changes (JSON), shown to the teacher to confirm or dismiss.
    held_changes: Mapped[str | None] = mapped_column(Text)
