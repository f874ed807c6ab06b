"""Rate limits with Flask-Limiter, in the app's Redis (moving windows), shared by every instance.

Two kinds: OAuth requests per client address (the login start and the callback together,
``OAUTH_RATE_LIMIT``), and failed password checks, counted per account *and* address, per
address, and per account across all addresses (a ceiling against guessing from many addresses,
high enough that a stranger's few tries never lock a teacher out; Clever logins never are).

The client address is ``request.remote_addr``: the peer, or with ``TRUSTED_PROXY_COUNT`` set
the address the trusted proxies forwarded (``clever.proxy``), so a forged X-Forwarded-For
never moves a counter. Every limit fails closed: a Redis error propagates and the error pages
answer 503, so no password is checked while we cannot count.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass

from flask import Flask, current_app, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse
from limits.strategies import RateLimiter

log = logging.getLogger("clever.ratelimit")

KEY_PREFIX = "ratelimit"  # every counter's Redis key starts with it


def client_address() -> str:
    """The address limits are keyed on: only as trustworthy as the proxy setup in front."""
    return request.remote_addr or "unknown"


# Not swallowing storage errors (Flask-Limiter's default) keeps the OAuth limit failing closed;
# no in-memory fallback, which would count per process.
limiter = Limiter(
    key_func=client_address,
    strategy="moving-window",
    # No X-RateLimit-* headers: they cost every limited request (each login's start and
    # callback) one more Redis call. A 429 still says when to retry (``retry_after``).
    headers_enabled=False,
    key_prefix="app",
)


def retry_after() -> int | None:
    """Seconds until the limit this request ran into lets it through again (for the 429's
    Retry-After), or None when no limit of Flask-Limiter's refused it."""
    breached = limiter.current_limit
    if breached is None or not breached.breached:
        return None
    return max(1, int(breached.reset_at - time.time()))  # reset_at is already rounded up


def init_rate_limits(app: Flask) -> None:
    """Bind the limiter to the app's Redis client (its pool and short timeouts)."""
    pool = app.extensions["redis"].connection_pool
    app.config.setdefault("RATELIMIT_STORAGE_URI", "redis://")
    app.config.setdefault(
        "RATELIMIT_STORAGE_OPTIONS", {"connection_pool": pool, "key_prefix": KEY_PREFIX}
    )
    limiter.init_app(app)


# -- OAuth requests per client address ----------------------------------------------------------

# The login start and the callback draw on one allowance per address ("scope").
oauth_limit = limiter.shared_limit(lambda: current_app.config["OAUTH_RATE_LIMIT"], scope="oauth")


# -- failed password checks ---------------------------------------------------------------------

# Failed checks allowed, in moving windows. The per-address limit is higher than the per-account
# one because a school shares one address between many teachers.
FAILURES_PER_ACCOUNT_AND_ADDRESS = parse("5 per 15 minutes")
FAILURES_PER_ADDRESS = parse("20 per 15 minutes")
FAILURES_PER_ACCOUNT = parse("50 per hour")


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


def strategy() -> RateLimiter:
    """Flask-Limiter's moving window over its Redis storage."""
    return limiter.limiter


def _account(email: str) -> str:
    """``email`` comes normalised (``local_accounts.normalise_email``): one counter per account.

    A keyed hash: Redis never holds the address, and a dump can't be reversed with a word list.
    """
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, email.encode(), hashlib.sha256).hexdigest()[:40]


def _limits(email: str | None, ip: str) -> list[tuple[RateLimitItem, tuple[str, ...], str]]:
    """(limit, counter identifiers, scope for the log) that a check of ``email`` from ``ip``
    counts against; ``email`` None: the address alone."""
    limits = [(FAILURES_PER_ADDRESS, ("password", "address", ip), "address")]
    if email is not None:
        account = _account(email)
        limits += [
            (
                FAILURES_PER_ACCOUNT_AND_ADDRESS,
                ("password", "pair", account, ip),
                "account+address",
            ),
            (FAILURES_PER_ACCOUNT, ("password", "account", account), "account"),
        ]
    return limits


def check_attempts_allowed(email: str | None, ip: str) -> None:
    """Raise TooManyAttempts when a limit of this account or address is used up.

    Runs before any password check (``email`` None: the address alone, as for a sign-up).
    """
    window = strategy()
    for item, identifiers, scope in _limits(email, ip):
        if not window.test(item, *identifiers):
            reset = window.get_window_stats(item, *identifiers).reset_time
            log.warning("password attempts rate limited scope=%s", scope)
            raise TooManyAttempts(retry_after=max(1, int(reset - time.time()) + 1))


def record_failure(email: str | None, ip: str) -> None:
    """Count a failed password check against the account and the address; ``email`` None
    counts a probe that is not a password check (a sign-up with a taken email)."""
    window = strategy()
    for item, identifiers, _ in _limits(email, ip):
        window.hit(item, *identifiers)


def clear_account_failures(email: str, ip: str) -> None:
    """The password was right: this account's counters start over. The address counter does
    not: resetting it on success would let someone with their own account interleave good
    logins to keep guessing others' passwords."""
    for item, identifiers, _ in _limits(email, ip)[1:]:
        strategy().clear(item, *identifiers)
