"""Accounts: provisioning from Clever (matched on the Clever id, never email), linking a Clever
login to an existing local account, and the onboarding questions Clever's data leaves open."""

from __future__ import annotations

import logging
import time

from flask import session, url_for
from sqlalchemy import delete, select, update

from clever.local_accounts import authenticate, looks_like_email
from clever.upsert import insert_missing
from models import (
    ROLE_STUDENT,
    ROLE_TEACHER,
    TEACHER_LIKE_ROLES,
    CleverToken,
    Enrollment,
    SectionTeacher,
    SyncRun,
    TeacherSectionPreference,
    User,
    clip,
    db,
    utcnow,
)

log = logging.getLogger("clever.accounts")


class NoUsableRole(Exception):
    """The Clever user is not a teacher, student, staff member or district admin."""


def role_from_clever(roles: dict) -> str | None:
    """Teacher if the user holds any teacher-like role, else student, else no usable role."""
    if any(role in roles for role in TEACHER_LIKE_ROLES):
        return ROLE_TEACHER
    if "student" in roles:
        return ROLE_STUDENT
    return None


def grade_from_clever(roles: dict) -> str | None:
    student = roles.get("student") or {}
    return student.get("grade") or None


def find_by_clever_id(clever_id: str) -> User | None:
    return db.session.scalar(db.select(User).filter_by(clever_id=clever_id))


def provision_from_clever(
    me: dict, clever_user: dict, known: User | None = None
) -> tuple[User, bool]:
    """Create or update the user behind a Clever login. Returns (user, first_login).
    ``known``: the account of this Clever id, if the login has already read it.

    Raises NoUsableRole for a Clever user who is not a teacher, student, staff member or
    district admin.
    """
    roles = clever_user.get("roles") or {}
    role = role_from_clever(roles)
    if role is None:
        raise NoUsableRole()
    return apply_clever_profile(me, clever_user, roles, role, known)


def apply_clever_profile(
    me: dict, clever_user: dict, roles: dict, role: str, known: User | None = None
) -> tuple[User, bool]:
    name = clever_user.get("name") or {}
    user = known if known is not None else find_by_clever_id(clever_user["id"])
    if user is None:
        # Two first logins of one person, or a classmate's sync, may insert the row this very
        # moment: the upsert waits for theirs instead of failing on the unique key.
        insert_missing(User, [{"clever_id": clever_user["id"]}], ("clever_id",))
        user = find_by_clever_id(clever_user["id"])
    # A roster import may have created the row before this person ever logged in.
    created = user.last_login_at is None
    user.first_name = clip(User, "first_name", name.get("first")) or ""
    user.middle_name = clip(User, "middle_name", name.get("middle"))
    user.last_name = clip(User, "last_name", name.get("last")) or ""
    email = clip(User, "email", clever_user.get("email"))
    user.email = email if email and "@" in email else None
    user.role = role
    user.clever_roles = clip(User, "clever_roles", ",".join(sorted(roles))) or ""
    user.grade = clip(User, "grade", grade_from_clever(roles))
    user.authorized_by = clip(User, "authorized_by", me.get("authorized_by"))
    user.last_login_at = utcnow()
    db.session.commit()
    return user, created


LINK_OFFER_SECONDS = 600
LINK_OFFER_KEY = "link_offer_until"


def holds_teacher_role(user: User) -> bool:
    """A teacher in Clever (or a local account, made by teachers), not only staff or a district
    admin: those get the teacher view, but have no classes of their own to teach."""
    return user.is_teacher and (user.clever_id is None or "teacher" in user.clever_roles.split(","))


def next_url_after_login(user: User, created: bool) -> str:
    """Where a fresh login goes: the link offer (new teachers), onboarding, or the dashboard.

    Staff and district admins without a teacher role get no link offer: the accounts made
    here before Clever were teachers' accounts."""
    if created and holds_teacher_role(user) and user.password_hash is None and user.clever_id:
        # The offer lives in this (brand-new) session only, so it proves a Clever login that
        # happened in this browser less than LINK_OFFER_SECONDS ago.
        session[LINK_OFFER_KEY] = time.time() + LINK_OFFER_SECONDS
        return url_for("onboarding.link_account")
    return next_url_after_link_offer(user)


def next_url_after_link_offer(user: User, *, record: bool = True) -> str:
    """Onboarding when a required field is missing, else the dashboard.

    With nothing missing there is no page to show, so the user counts as onboarded from now
    (``record``; False on GET requests, which never write).
    """
    if missing_onboarding_fields(user):
        return url_for("onboarding.onboarding")
    if record and user.onboarded_at is None:
        user.onboarded_at = utcnow()
        db.session.commit()
    return url_for("dashboard.dashboard")


def clever_shares_organisation(user: User) -> bool:
    """Whether Clever tells us this user's district (and so, after a sync, its name).

    A district-authorized login always comes with a district in ``/me``; a Library
    (teacher-authorized) login and a local account never do.
    """
    return user.authorized_by == "district"


def missing_onboarding_fields(user: User) -> list[str]:
    """Fields our product needs that Clever did not supply (see README, "Onboarding").

    Teachers only: a contact email when Clever has none (or an unusable one), and a school name
    when we know neither a school nor a district. Students are never asked anything.
    """
    if not user.is_teacher:
        return []
    missing = []
    if not (looks_like_email(user.email) or looks_like_email(user.contact_email)):
        missing.append("contact_email")
    if user.organisation_name is None and not clever_shares_organisation(user):
        missing.append("school_name")
    return missing


def complete_onboarding(
    user: User, contact_email: str | None = None, school_name: str | None = None
) -> None:
    if contact_email is not None:
        user.contact_email = contact_email.strip()
    if school_name is not None:
        user.school_name = school_name.strip()
    user.onboarded_at = utcnow()
    db.session.commit()


# -- linking a first Clever login to an existing local account ----------------------------------


class LinkError(Exception):
    """Why a link attempt failed: "bad_credentials", "linked_elsewhere" or "not_offered"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def link_offer_open(user: User, offer_until: float | None, now: float | None = None) -> bool:
    """The offer stands for a new Clever teacher, undecided, within 10 minutes of the login."""
    if not (user.is_teacher and user.clever_id and user.password_hash is None):
        return False
    if user.link_offer_decided_at is not None or offer_until is None:
        return False
    return (time.time() if now is None else now) < offer_until


def decline_link_offer(user: User) -> None:
    user.link_offer_decided_at = utcnow()
    db.session.commit()


def link_clever_login(clever_user: User, email: str, password: str, ip: str) -> User:
    """Attach ``clever_user``'s Clever id to the local account proven by email + password.

    Returns the kept (local) account. Raises LinkError, or local_accounts.TooManyAttempts.
    Never links on email alone: the password is what proves the account is theirs.
    """
    if not (clever_user.is_teacher and clever_user.clever_id):
        raise LinkError("not_offered")
    target = authenticate(email, password, ip)
    if target is None:
        log.info("account link refused user=%s reason=bad_credentials", clever_user.id)
        raise LinkError("bad_credentials")
    if target.id == clever_user.id:
        return target
    # Checked only after the password, so the answer tells nothing to someone without it.
    if target.clever_id is not None:
        log.warning("account link refused user=%s reason=linked_elsewhere", clever_user.id)
        raise LinkError("linked_elsewhere")
    source_id = clever_user.id
    merge_clever_user_into(target, clever_user)
    log.info("account linked kept=%s merged_and_removed=%s", target.id, source_id)
    return target


# Rows unique per (user, section), with whether the Clever row wins when both users have one.
PER_SECTION_REFERENCES = (
    # Roster links were just synced from Clever: they are the truth.
    (SectionTeacher, SectionTeacher.teacher_id, SectionTeacher.section_id, True),
    (Enrollment, Enrollment.student_id, Enrollment.section_id, True),
    # A class choice the teacher already made on the kept account is theirs to keep.
    (TeacherSectionPreference, TeacherSectionPreference.teacher_id,
     TeacherSectionPreference.section_id, False),
)  # fmt: skip
# Every column that points at users.id, so every row a merge moves. A guard test fails when a
# new model adds a reference that isn't handled here.
MERGED_USER_REFERENCES = (
    *(user_col for _, user_col, _, _ in PER_SECTION_REFERENCES),
    CleverToken.user_id,
    SyncRun.user_id,
)


def merge_clever_user_into(target: User, source: User) -> None:
    """Move everything of the just-provisioned Clever row ``source`` onto ``target``, copy the
    Clever identity over, and delete ``source``: one transaction, no duplicate left behind."""
    try:
        for model, user_col, section_col, clever_wins in PER_SECTION_REFERENCES:
            # Two rows for one section would break the unique constraint: drop the loser.
            loser, winner = (target.id, source.id) if clever_wins else (source.id, target.id)
            winners = select(section_col).where(user_col == winner)
            db.session.execute(
                delete(model).where(user_col == loser, section_col.in_(winners)),
                execution_options={"synchronize_session": False},
            )
            db.session.execute(
                update(model).where(user_col == source.id).values({user_col: target.id}),
                execution_options={"synchronize_session": False},
            )
        # The token from this login is the fresh one.
        db.session.execute(delete(CleverToken).where(CleverToken.user_id == target.id))
        db.session.execute(
            update(CleverToken).where(CleverToken.user_id == source.id).values(user_id=target.id)
        )
        db.session.execute(
            update(SyncRun).where(SyncRun.user_id == source.id).values(user_id=target.id)
        )
        clever_id = source.clever_id
        if source.email is None and target.email and target.contact_email is None:
            # Clever has no email for them: keep the one they signed up with for contact.
            target.contact_email = target.email
        for column in (
            "first_name", "middle_name", "last_name", "role", "clever_roles", "grade",
            "authorized_by", "district_id", "school_id", "last_login_at",
        ):  # fmt: skip
            setattr(target, column, getattr(source, column))
        if source.email is not None:
            target.email = source.email
        target.link_offer_decided_at = utcnow()
        db.session.delete(source)
        # Free the unique Clever id before the target takes it.
        db.session.flush()
        target.clever_id = clever_id
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
