"""Clever access tokens at rest: Fernet-encrypted, one per user, deleted at logout."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from models import CleverToken, db, utcnow


def fernet() -> Fernet:
    return Fernet(current_app.config["TOKEN_ENCRYPTION_KEY"].encode())


def store_token(user_id: int, access_token: str) -> None:
    ciphertext = fernet().encrypt(access_token.encode())
    row = db.session.scalar(db.select(CleverToken).filter_by(user_id=user_id))
    if row is None:
        db.session.add(CleverToken(user_id=user_id, encrypted_token=ciphertext))
    else:
        row.encrypted_token, row.issued_at = ciphertext, utcnow()
    db.session.commit()


def load_token(user_id: int) -> str | None:
    row = db.session.scalar(db.select(CleverToken).filter_by(user_id=user_id))
    if row is None:
        return None
    try:
        return fernet().decrypt(row.encrypted_token).decode()
    except InvalidToken:
        # The key was rotated: the token is useless, the next login stores a fresh one.
        return None


def delete_token(user_id: int) -> None:
    db.session.execute(db.delete(CleverToken).filter_by(user_id=user_id))
    db.session.commit()
