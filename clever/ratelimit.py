"""Request counters in Redis, shared by every app instance.

Two limits: OAuth requests per client address (the start and the callback together), and failed
password checks per account email and per client address. Each counts in Redis, so several app
instances enforce one limit, and each fails closed: a Redis error propagates and the error pages
answer 503, so no password is checked while we cannot count.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass

from flask import current_app, request

from clever.sessions import get_redis

log = logging.getLogger("clever.ratelimit")

# Failed password checks allowed per 15-minute window, per account email and per client address.
# The per-address limit is higher because a school shares one address between many teachers.
FAILURE_WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_IP = 20


@dataclass
class TooManyAttempts(Exception):
    """Too many failed password checks; ``retry_after`` is in seconds."""

    retry_after: int

    @property
    def wait_text(self) -> str:
        """How long to wait, as a person reads it: "a minute", "15 minutes"."""
        minutes = max(1, (self.retry_after + 59) // 60)
        return "a minute" if minutes == 1 else f"{minutes} minutes"

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def client_address() -> str:
    """The address counters are keyed on: only as trustworthy as the proxy setup in front."""
    return request.remote_addr or "unknown"


# -- OAuth requests per client address ----------------------------------------------------------


def over_oauth_limit(client: str) -> int | None:
    """Count one OAuth request from ``client``; seconds to wait when it is over the limit
    (``OAUTH_REQUESTS_PER_MINUTE``, in fixed one-minute windows)."""
    per_minute = current_app.config["OAUTH_REQUESTS_PER_MINUTE"]
    window = int(time.time() // 60)
    key = f"ratelimit:oauth:{client}:{window}"
    pipe = get_redis().pipeline()
    pipe.incr(key)
    pipe.expire(key, 120)
    count, _ = pipe.execute()
    return 60 - int(time.time() % 60) or 1 if count > per_minute else None


# -- failed password checks ---------------------------------------------------------------------


def _email_key(email: str) -> str:
    """``email`` comes normalised (``local_accounts.normalise_email``): one counter per account.

    A keyed hash: Redis never holds the address, and a dump can't be reversed with a word list.
    """
    secret = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(secret, email.encode(), hashlib.sha256).hexdigest()
    return f"ratelimit:password:email:{digest[:40]}"


def _ip_key(ip: str) -> str:
    return f"ratelimit:password:ip:{ip}"


def check_attempts_allowed(email: str | None, ip: str) -> None:
    """Raise TooManyAttempts when the email or the address used up its failures.

    Runs before any password check (``email`` None: the address alone, as for a sign-up).
    """
    redis = get_redis()
    limits = [(_ip_key(ip), MAX_FAILURES_PER_IP, "ip")]
    if email is not None:
        limits.insert(0, (_email_key(email), MAX_FAILURES_PER_EMAIL, "email"))
    counts = redis.mget([key for key, _, _ in limits])
    for (key, limit, scope), count in zip(limits, counts, strict=True):
        if count is not None and int(count) >= limit:
            ttl = redis.ttl(key)
            log.warning("password attempts rate limited scope=%s", scope)
            raise TooManyAttempts(retry_after=ttl if ttl and ttl > 0 else FAILURE_WINDOW_SECONDS)


def record_failure(email: str | None, ip: str) -> None:
    """Count a failed password check against the email and the address; ``email`` None counts
    a probe that is not a password check (a sign-up with a taken email) against the address."""
    keys = [_ip_key(ip)] if email is None else [_email_key(email), _ip_key(ip)]
    pipe = get_redis().pipeline()
    for key in keys:
        # The window starts at the first failure (NX), so retrying doesn't extend it.
        pipe.set(key, 0, ex=FAILURE_WINDOW_SECONDS, nx=True)
        pipe.incr(key)
    pipe.execute()


def clear_email_failures(email: str) -> None:
    # Only the account's counter: resetting the address counter on success would let someone
    # with their own account interleave good logins to keep guessing others' passwords.
    get_redis().delete(_email_key(email))
