"""Accounts: provisioning from Clever (matched on the Clever id, never email), linking a Clever
login to an existing local account, and the onboarding questions Clever's data leaves open."""

from __future__ import annotations

from models import ROLE_STUDENT, ROLE_TEACHER, User, db, utcnow

# Staff and district admins get the teacher experience (architecture section 5, step 6).
TEACHER_LIKE_ROLES = ("teacher", "staff", "district_admin")


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


def provision_from_clever(me: dict, clever_user: dict) -> tuple[User, bool]:
    """Create or update the user behind a Clever login. Returns (user, first_login).

    Raises ValueError("no_usable_role") for a Clever user who is not a teacher, student, staff
    member or district admin.
    """
    roles = clever_user.get("roles") or {}
    role = role_from_clever(roles)
    if role is None:
        raise ValueError("no_usable_role")
    name = clever_user.get("name") or {}
    user = find_by_clever_id(clever_user["id"])
    if user is None:
        user = User(clever_id=clever_user["id"])
        db.session.add(user)
    # A roster import may have created the row before this person ever logged in.
    created = user.last_login_at is None
    user.first_name = (name.get("first") or "").strip()
    user.middle_name = (name.get("middle") or "").strip() or None
    user.last_name = (name.get("last") or "").strip()
    user.email = (clever_user.get("email") or "").strip() or None
    user.role = role
    user.clever_roles = ",".join(sorted(roles))
    user.grade = grade_from_clever(roles)
    user.authorized_by = me.get("authorized_by")
    user.last_login_at = utcnow()
    db.session.commit()
    return user, created


LINK_OFFER_SECONDS = 600


def next_url_after_login(user: User, created: bool) -> str:
    """Where a fresh login goes: the link offer (new teachers), onboarding, or the dashboard."""
    import time

    from flask import session, url_for

    if created and user.is_teacher and user.password_hash is None:
        session["link_offer_until"] = time.time() + LINK_OFFER_SECONDS
        return url_for("onboarding.link_account")
    if missing_onboarding_fields(user):
        return url_for("onboarding.onboarding")
    return url_for("dashboard.home")


def missing_onboarding_fields(user: User) -> list[str]:
    """Fields our product needs that Clever did not supply (see README, "Onboarding")."""
    if not user.is_teacher:
        return []
    missing = []
    if not (user.email or user.contact_email):
        missing.append("contact_email")
    if user.organisation_name is None:
        missing.append("school_name")
    return missing
