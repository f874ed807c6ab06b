"""Local email + password accounts, for teachers who used Roster Room before their school used
Clever: sign-up and password checks (the counters that rate-limit guessing are in
``clever.ratelimit``).

Passwords are hashed with Werkzeug's scrypt and compared in constant time. An unknown email still
costs one scrypt check, so response times don't reveal which emails have accounts, and every
failure reads the same ("Email or password is incorrect").
"""

from __future__ import annotations

import functools
import logging
import re
import secrets

from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from clever import ratelimit
from models import ROLE_TEACHER, User, db, utcnow

log = logging.getLogger("clever.local_accounts")

PASSWORD_METHOD = "scrypt"
# ASVS 6.2.1 / 6.2.9: at least 8 characters, long passphrases welcome, no composition rules.
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 200
MAX_EMAIL_LENGTH = 320

# Deliberately loose: one "@", something on both sides, a dot in the domain, no spaces.
# Deliverability is the teacher's business; we only catch typos like a missing "@".
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class EmailTaken(Exception):
    """Sign-up with an email that already has a local account (compared case-insensitively)."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def looks_like_email(value: str | None) -> bool:
    return bool(value) and len(value) <= MAX_EMAIL_LENGTH and bool(_EMAIL_RE.match(value))


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


@functools.cache
def _dummy_hash() -> str:
    # Made once per process, lazily: only its cost matters, never its value.
    return hash_password(secrets.token_urlsafe(16))


def find_local_account(email: str) -> User | None:
    """The password account for ``email`` (case-insensitive), or None.

    Only rows with a password count: a Clever-provisioned user with the same email is a
    different person as far as we can prove, and email is never an identity key.
    """
    return db.session.scalar(
        db.select(User).where(
            User.password_hash.is_not(None), User.login_email == normalise_email(email)
        )
    )


def verify_password(user: User | None, password: str) -> bool:
    """Constant-time check; an unknown user costs the same as a wrong password."""
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(user.password_hash, password)


def authenticate(email: str, password: str, ip: str) -> User | None:
    """The local account proven by ``email`` + ``password``, or None. Raises TooManyAttempts."""
    account = normalise_email(email)
    ratelimit.check_attempts_allowed(account, ip)
    user = find_local_account(email)
    if verify_password(user, password):
        ratelimit.clear_account_failures(account, ip)
        return user
    ratelimit.record_failure(account, ip)
    return None


# -- accounts -----------------------------------------------------------------------------------


def create_local_account(
    email: str, password: str, first: str, last: str, school_name: str | None = None
) -> User:
    """A new teacher account with no Clever id. Raises EmailTaken."""
    email = email.strip()
    if find_local_account(email) is not None:
        raise EmailTaken()
    user = User(
        clever_id=None,
        email=email,
        login_email=normalise_email(email),
        first_name=first.strip(),
        last_name=last.strip(),
        role=ROLE_TEACHER,
        password_hash=hash_password(password),
        school_name=(school_name or "").strip() or None,
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # A simultaneous sign-up with the same email won the unique index.
        db.session.rollback()
        raise EmailTaken() from None
    return user


def ensure_local_account(
    email: str, password: str, first: str, last: str, school_name: str | None = None
) -> User:
    """The local account for ``email``, created if missing (``make demo`` seeds one with it).

    Idempotent: an existing account is returned untouched, including one a demo visitor has
    since linked to a Clever login.
    """
    existing = find_local_account(email)
    if existing is not None:
        return existing
    return create_local_account(email, password, first, last, school_name)


def record_local_login(user: User) -> None:
    user.last_login_at = utcnow()
    db.session.commit()
