"""Server-side sessions in Redis: the cookie holds only the session id.

Also the session lifecycle the login relies on: every login starts a brand-new session (shared
classroom devices), logout deletes it from Redis, and idle or over-age sessions end on the server.
"""

from __future__ import annotations

import time
from datetime import timedelta

import redis
from flask import Flask, current_app, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_session import Session
from flask_session.redis import RedisSessionInterface

from clever.negotiate import wants_json
from clever.tokens import delete_token

SESSION_KEY_PREFIX = "session:"
USER_SESSIONS_PREFIX = "user-sessions:"  # a set of each user's live session ids
ABSOLUTE_LIFETIME = timedelta(hours=12)
# A visitor who is not logged in keeps a session only for a sign-in in progress (the OAuth state,
# a form's CSRF token); both are good for an hour at most (Authlib's state, WTF_CSRF_TIME_LIMIT).
ANONYMOUS_LIFETIME = timedelta(hours=1)
# Endpoints that must work without a session store (health reporting, static files).
STORELESS_ENDPOINTS = {"health.healthz", "static"}


def make_redis_client(url: str) -> redis.Redis:
    # Short timeouts: a hung Redis must turn into a 503 page, not a hung worker.
    return redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30
    )


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]


class ResilientRedisSessionInterface(RedisSessionInterface):
    """Fails closed, and never brings an ended session back.

    Flask-Session writes the whole session with a plain ``SET`` at the end of every request, so a
    request that was in flight during a logout (or a shared-device override, an idle or age
    expiry, a sign-out elsewhere) re-created the deleted key when it finished. Here a session
    read from Redis is written back with ``SET XX`` (only while its key still exists) and a new
    session id with ``SET NX``: once a key is deleted, nothing can write it again. Session ids
    are 256-bit random and new ones are never reused, so "exists" is exactly "not ended yet".
    A write that loses the race sets no cookie: the browser keeps whatever the logout or the new
    login gave it.
    """

    def open_session(self, app, request):
        try:
            session = super().open_session(app, request)
        except redis.RedisError:
            unavailable = self.session_class(sid="", permanent=True)
            unavailable.store_unavailable = True
            return unavailable
        # A loaded session has data; an empty one was just made up with a fresh id.
        session.stored = bool(session)
        return session

    def regenerate(self, session) -> None:
        super().regenerate(session)
        session.stored = False  # a brand-new id: create it, never overwrite

    def save_session(self, app, session, response):
        if session is None or getattr(session, "store_unavailable", False):
            return
        try:
            super().save_session(app, session, response)
        except redis.RedisError:
            app.logger.error("session store unavailable while saving a session")

    def _upsert_session(self, session_lifetime, session, store_id) -> None:
        ttl = self.lifetime_of(session, session_lifetime)
        value = self.serializer.encode(session)
        existing = getattr(session, "stored", False)
        written = self.client.set(store_id, value, ex=ttl, xx=existing, nx=not existing)
        session.ended_meanwhile = not written
        if written:
            session.stored = True

    def should_set_cookie(self, app, session) -> bool:
        if getattr(session, "ended_meanwhile", False):
            return False
        return super().should_set_cookie(app, session)

    @staticmethod
    def lifetime_of(session, session_lifetime: timedelta) -> int:
        """Seconds in Redis: anonymous sessions (an OAuth state, a form token) live briefly."""
        if "_user_id" not in session:
            return int(min(session_lifetime, ANONYMOUS_LIFETIME).total_seconds())
        return int(session_lifetime.total_seconds())


def init_sessions(app: Flask, redis_url: str | None) -> None:
    if redis_url is None:
        redis_url = start_embedded_redis(app)
    client = make_redis_client(redis_url)
    app.extensions["redis"] = client
    production = app.config["APP_ENV"] == "production"
    app.config.update(
        SESSION_TYPE="redis",
        SESSION_REDIS=client,
        SESSION_KEY_PREFIX=SESSION_KEY_PREFIX,
        SESSION_PERMANENT=True,
        # Write a session only when it changed (enforce_session_age records the last activity
        # often enough): an unchanged page view then costs no Redis write. The key's lifetime
        # and the cookie's are the absolute one, set when the session is written.
        SESSION_REFRESH_EACH_REQUEST=False,
        SESSION_USE_SIGNER=False,
        PERMANENT_SESSION_LIFETIME=ABSOLUTE_LIFETIME,
        SESSION_COOKIE_HTTPONLY=True,
        # Strict would drop the cookie on the return from Clever.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        # __Host-: Secure, Path=/ and no Domain, enforced by the browser (production is https).
        SESSION_COOKIE_NAME="__Host-session" if production else "session",
    )
    Session(app)
    app.session_interface = ResilientRedisSessionInterface(
        app,
        client=client,
        key_prefix=SESSION_KEY_PREFIX,
        use_signer=False,
        permanent=True,
    )
    app.before_request(refuse_without_store)
    app.before_request(enforce_session_age)


def start_embedded_redis(app: Flask) -> str:
    """Development and test convenience: a private Redis that dies with this process."""
    import atexit

    from clever.embedded_redis import RedisProcess

    server = RedisProcess().start()
    atexit.register(server.stop)
    app.logger.info("REDIS_URL is unset: started an embedded Redis on port %s", server.port)
    return server.url


def refuse_without_store():
    if getattr(session, "store_unavailable", False) and request.endpoint not in STORELESS_ENDPOINTS:
        from clever.errors import ServiceUnavailable

        raise ServiceUnavailable()


def enforce_session_age():
    """End idle or over-age sessions on the server, then say why on the logged-out page."""
    if request.endpoint in STORELESS_ENDPOINTS or not current_user.is_authenticated:
        return None
    now = time.time()
    idle_limit = current_app.config["SESSION_IDLE_MINUTES"] * 60
    last_seen = session.get("last_seen", now)
    started = session.get("login_at", now)
    if now - last_seen > idle_limit:
        reason = "idle"
    elif now - started > ABSOLUTE_LIFETIME.total_seconds():
        reason = "expired"
    else:
        resolution = min(
            current_app.config["SESSION_LAST_SEEN_RESOLUTION_SECONDS"], idle_limit / 10
        )
        if now - last_seen >= resolution:
            session["last_seen"] = now
        return None
    end_session()
    if wants_json():
        return {"error": "session_ended", "reason": reason}, 401
    return redirect(url_for("auth.logged_out", reason=reason))


def begin_session(user, **values) -> None:
    """Log ``user`` in on a brand-new session: nothing of the previous session survives."""
    session.clear()
    login_user(user)
    now = time.time()
    session["login_at"] = now
    session["last_seen"] = now
    session.update(values)
    # Deletes the previous session from Redis (it is not empty now) and draws a new id.
    current_app.session_interface.regenerate(session)
    index = USER_SESSIONS_PREFIX + str(user.id)
    pipe = get_redis().pipeline()
    pipe.sadd(index, session.sid)
    pipe.expire(index, int(ABSOLUTE_LIFETIME.total_seconds()) + 3600)
    pipe.execute()


def switch_person(user) -> None:
    """Log ``user`` in on this device. Whoever was signed in here before is signed out entirely,
    their Clever token included: classroom devices are shared."""
    if current_user.is_authenticated and current_user.id != user.id:
        delete_token(current_user.id)
    begin_session(user)


def end_other_sessions(user_id: int) -> None:
    """Log ``user_id`` out everywhere else (after their account changed hands, say)."""
    end_sessions_of(user_id, keep=getattr(session, "sid", None))


def end_sessions_of(user_id: int, keep: str | None = None) -> None:
    """Log ``user_id`` out of every session but ``keep`` (all of them: account deleted)."""
    redis = get_redis()
    index = USER_SESSIONS_PREFIX + str(user_id)
    ended = [sid.decode() for sid in redis.smembers(index) if sid.decode() != keep]
    if ended:
        redis.delete(*(SESSION_KEY_PREFIX + sid for sid in ended))
        redis.srem(index, *ended)


def end_session() -> None:
    if current_user.is_authenticated and getattr(session, "sid", None):
        get_redis().srem(USER_SESSIONS_PREFIX + str(current_user.id), session.sid)
    logout_user()
    session.clear()  # an empty, modified session is deleted from Redis and its cookie expired
