"""Clever access tokens at rest, Fernet-encrypted: the user's own token (one per user, in the
database, deleted at logout) and the district-app tokens (one per district, cached in Redis).

A district-app token reads the whole district's roster, so it is never stored in the clear:
the cache holds the Fernet ciphertext, under the same key as the user tokens.
"""

from __future__ import annotations

import logging

import redis
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


# -- district-app tokens (Redis) -----------------------------------------------------------------

log = logging.getLogger("clever.tokens")


def get_redis() -> redis.Redis:
    from clever.sessions import get_redis as shared  # clever.sessions imports this module

    return shared()


DISTRICT_TOKEN_KEY = "clever:district_token:"
# Set when the token list was read: a first login sends the list call beside /me only when it
# is missing, so the steady state costs no call at all.
DISTRICT_LIST_KEY = "clever:district_tokens:listed"


def cache_district_tokens(tokens: dict[str, str]) -> None:
    """Remember every district-app token the token list gave (encrypted)."""
    lifetime = current_app.config["DISTRICT_TOKEN_CACHE_SECONDS"]
    box = fernet()
    try:
        pipe = get_redis().pipeline(transaction=False)
        for district_id, token in tokens.items():
            pipe.set(DISTRICT_TOKEN_KEY + district_id, box.encrypt(token.encode()), ex=lifetime)
        pipe.set(DISTRICT_LIST_KEY, "1", ex=lifetime)
        pipe.execute()
    except redis.RedisError:
        log.warning("could not cache district-app tokens")


def cached_district_token(district_id: str) -> str | None:
    try:
        ciphertext = get_redis().get(DISTRICT_TOKEN_KEY + district_id)
    except redis.RedisError:
        return None
    if ciphertext is None:
        return None
    try:
        return fernet().decrypt(ciphertext).decode()
    except InvalidToken:
        return None  # the key was rotated: fetch the list again


def forget_district_token(district_id: str) -> None:
    """After a 401: the district reconnected (new token) or disconnected (none)."""
    try:
        get_redis().delete(DISTRICT_TOKEN_KEY + district_id)
    except redis.RedisError:
        log.warning("could not forget a district-app token")


def district_tokens_listed() -> bool:
    """Whether the token list was read recently (so a first login need not prefetch it)."""
    try:
        return bool(get_redis().exists(DISTRICT_LIST_KEY))
    except redis.RedisError:
        return False
