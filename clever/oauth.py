"""OAuth with Clever: starting a login, and one callback for every entry point.

Clever-initiated logins (Portal, Instant Login, Library Install, student launch) arrive with a
code and no ``state``. We never exchange such a code: we start a fresh authorization with our own
state instead, which Clever answers at once while its session lives. So CSRF protection stays on
for every login, and no code is ever exchanged twice (a Redis ``SET NX`` on the code's hash).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app, session
from flask_login import current_user

from clever import connections
from clever.api import CleverAPIError
from clever.errors import LoginFailure
from clever.sessions import get_redis

log = logging.getLogger("clever.oauth")

PENDING_KEY = "oauth_pending"
PENDING_LIFETIME = 600  # an abandoned login attempt stops being valid after 10 minutes
MAX_PENDING = 5  # several tabs may start a login at once
CODE_GUARD_SECONDS = 600  # Clever codes live 60 s; remember them well past that
MAX_ATTEMPTS = 2  # one fresh authorization after a bad state, then the error page


@dataclass(frozen=True)
class CleverGrant:
    """A successfully exchanged code: the access token, and the code's guard key."""

    access_token: str
    code_key: str


def oauth_client() -> OAuth2Session:
    config = current_app.config
    client = OAuth2Session(
        config["CLEVER_CLIENT_ID"],
        config["CLEVER_CLIENT_SECRET"],
        token_endpoint_auth_method="client_secret_basic",
        redirect_uri=config["CLEVER_REDIRECT_URI"],
        code_challenge_method="S256",
        default_timeout=config["CLEVER_HTTP_TIMEOUT"],
    )
    connections.session_for(config["CLEVER_OAUTH_BASE_URL"], client)
    client.register_compliance_hook("access_token_response", reject_unusable_response)
    return client


def reject_unusable_response(response: requests.Response) -> requests.Response:
    if response.status_code >= 500:
        raise LoginFailure("clever_unavailable", f"token endpoint answered {response.status_code}")
    if "json" not in response.headers.get("Content-Type", ""):
        raise LoginFailure("clever_bad_response", "token endpoint answered without JSON")
    if response.status_code == 401:
        raise LoginFailure("clever_rejected", "token endpoint refused our client credentials")
    return response


def start_authorization(attempt: int = 1, entry: str = "button") -> str:
    """Remember a fresh state (and PKCE verifier) in this session; return Clever's authorize URL.

    ``entry`` says where the login began, for the metrics: our button, a Clever-initiated
    launch (Portal, Instant Login, Library) or a retry after an unknown state.
    """
    attempt = max(1, min(attempt, MAX_ATTEMPTS))
    state = f"{secrets.token_urlsafe(32)}.{attempt}"
    verifier = secrets.token_urlsafe(48)
    now = time.time()
    pending = {
        key: value
        for key, value in session.get(PENDING_KEY, {}).items()
        if now - value["at"] < PENDING_LIFETIME
    }
    pending[state] = {"verifier": verifier, "at": now, "entry": entry}
    session[PENDING_KEY] = dict(sorted(pending.items(), key=lambda kv: kv[1]["at"])[-MAX_PENDING:])
    url, _ = oauth_client().create_authorization_url(
        current_app.config["CLEVER_OAUTH_BASE_URL"] + "/oauth/authorize",
        state=state,
        code_verifier=verifier,
    )
    return url


def code_key(code: str) -> str:
    return "oauth:code:" + hashlib.sha256(code.encode()).hexdigest()


def already_logged_in_from(code: str) -> bool:
    """A refresh or back-button visit of a callback that already logged this browser in."""
    if not current_user.is_authenticated:
        return False
    marker = get_redis().get(code_key(code))
    return marker == f"done:{current_user.id}".encode()


def attempt_of(state: str) -> int:
    """Which try a state belongs to; a state we never made counts as a first try."""
    suffix = state.rpartition(".")[2]
    return int(suffix) if suffix.isascii() and suffix.isdigit() and len(suffix) < 3 else 1


def exchange_code(code: str, state: str, deadline: float | None = None) -> CleverGrant:
    """Exchange a code whose state this session is waiting for, exactly once, ever.

    ``deadline`` (a ``time.time()`` value): the exchange gives up by then, so a hanging token
    endpoint leaves the rest of the login's time budget, not CLEVER_HTTP_TIMEOUT, to wait."""
    pending = session.get(PENDING_KEY, {}).get(state)
    key = code_key(code)
    redis = get_redis()
    if not redis.set(key, "pending", nx=True, ex=CODE_GUARD_SECONDS):
        # Double delivery: another request owns this code. Touch nothing in this session.
        status = redis.get(key) or b""
        raise LoginFailure(
            "in_progress" if status == b"pending" else "invalid_grant", "code replayed"
        )
    forget_state(state)
    try:
        token = fetch_token(code, pending["verifier"], deadline)
        access_token = token.get("access_token") if isinstance(token, dict) else None
        if not access_token or not isinstance(access_token, str):
            raise LoginFailure("clever_bad_response", "token response had no access_token")
    except LoginFailure:
        # A later replay of this code must not be mistaken for one still in flight.
        redis.set(key, "failed", ex=CODE_GUARD_SECONDS)
        raise
    return CleverGrant(access_token=access_token, code_key=key)


def fetch_token(code: str, verifier: str, deadline: float | None = None) -> dict:
    """One POST to the token endpoint, never retried (a code works once)."""
    timeout = exchange_timeout(current_app.config["CLEVER_HTTP_TIMEOUT"], deadline)
    try:
        return oauth_client().fetch_token(
            current_app.config["CLEVER_OAUTH_BASE_URL"] + "/oauth/tokens",
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
            allow_redirects=False,
            timeout=timeout,
        )
    except LoginFailure:
        raise
    except AuthlibBaseError as error:
        reason = "invalid_grant" if error.error == "invalid_grant" else "clever_rejected"
        raise LoginFailure(reason, f"token endpoint error {error.error}") from None
    except requests.Timeout:
        raise LoginFailure("clever_unavailable", "token endpoint timed out") from None
    except requests.RequestException as error:
        raise LoginFailure("clever_unavailable", type(error).__name__) from None
    except ValueError:
        raise LoginFailure("clever_bad_response", "token response was not JSON") from None


def exchange_timeout(timeout: tuple[float, float], deadline: float | None) -> tuple[float, float]:
    """The (connect, read) timeout of the code exchange, each cut to the time left before the
    login's deadline. A hanging endpoint sends nothing, so the read timeout bounds the wait."""
    if deadline is None:
        return timeout
    left = max(deadline - time.time(), 0.001)  # requests refuses 0; past it: fail at once
    return (min(timeout[0], left), min(timeout[1], left))


@dataclass(frozen=True)
class ClientCredentials:
    """What the token list call needs, read from the app's config in the request thread so a
    worker thread without an app context can make the call."""

    oauth_base_url: str
    client_id: str
    client_secret: str
    timeout: tuple[float, float]
    http: requests.Session = field(compare=False, repr=False)  # on the app's kept connections

    @classmethod
    def from_app(cls) -> ClientCredentials:
        config = current_app.config
        return cls(
            config["CLEVER_OAUTH_BASE_URL"],
            config["CLEVER_CLIENT_ID"],
            config["CLEVER_CLIENT_SECRET"],
            config["CLEVER_HTTP_TIMEOUT"],
            connections.session_for(config["CLEVER_OAUTH_BASE_URL"]),
        )


def fetch_district_tokens(
    credentials: ClientCredentials, deadline: float | None = None
) -> dict[str, str]:
    """District id -> district-app token, for every district that shares rosters with the app.

    ``GET /oauth/tokens?owner_type=district`` with the app's own client credentials (HTTP
    Basic), as Clever's "Build a Teacher-Facing Roster App" guide says. Raises CleverAPIError
    (never with the credentials or the tokens in its message). ``deadline``: a login's, which
    cuts the timeouts to the time left, as for the code exchange.
    """
    path = "/oauth/tokens"
    try:
        response = credentials.http.get(
            credentials.oauth_base_url + path,
            params={"owner_type": "district"},
            auth=(credentials.client_id, credentials.client_secret),
            headers={"Accept": "application/json"},
            timeout=exchange_timeout(credentials.timeout, deadline),
            allow_redirects=False,
        )
    except requests.Timeout:
        raise CleverAPIError("timeout", None, path) from None
    except requests.RequestException as error:
        raise CleverAPIError("connection", None, path, type(error).__name__) from None
    if response.status_code == 401:
        raise CleverAPIError("unauthorized", 401, path, "client credentials refused")
    if response.status_code >= 500:
        raise CleverAPIError("server_error", response.status_code, path)
    if response.status_code != 200:
        raise CleverAPIError("client_error", response.status_code, path)
    try:
        rows = response.json()["data"]
        tokens = {
            row["owner"]["id"]: row["access_token"]
            for row in rows
            if row.get("owner", {}).get("type") == "district"
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CleverAPIError("bad_response", 200, path, "token list unreadable") from None
    if not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in tokens.items()):
        raise CleverAPIError("bad_response", 200, path, "token list unreadable")
    return tokens


def mark_code_failed(grant: CleverGrant) -> None:
    get_redis().set(grant.code_key, "failed", ex=CODE_GUARD_SECONDS)


def mark_code_done(grant: CleverGrant, user_id: int) -> None:
    get_redis().set(grant.code_key, f"done:{user_id}", ex=CODE_GUARD_SECONDS)


def is_pending_state(state: str) -> bool:
    entry = session.get(PENDING_KEY, {}).get(state)
    return entry is not None and time.time() - entry["at"] < PENDING_LIFETIME


def entry_of(state: str | None) -> str:
    """Where the login this state belongs to began ("unknown" for a state we don't hold)."""
    entry = session.get(PENDING_KEY, {}).get(state or "")
    return entry.get("entry", "unknown") if entry else "unknown"


def forget_state(state: str | None) -> None:
    if state and state in session.get(PENDING_KEY, {}):
        session[PENDING_KEY] = {k: v for k, v in session[PENDING_KEY].items() if k != state}
