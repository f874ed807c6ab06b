"""The login after Clever's code is exchanged: who it is (``/me``, ``/users/{id}``), the account
(provisioned on the Clever id), the session, the token at rest, and the roster sync.

The roster's first read (``/users/{id}/sections``) goes out beside ``/users/{id}`` on a small
thread pool that belongs to this service, one per app, so the login waits one round trip less.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from clever import accounts, oauth, sync
from clever.api import CleverAPI, CleverAPIError
from clever.errors import LoginFailure
from clever.sessions import switch_person
from clever.tokens import store_token

# Clever API failures during the login, as the friendly error page names them.
API_FAILURES = {
    "timeout": "clever_unavailable",
    "connection": "clever_unavailable",
    "server_error": "clever_unavailable",
    "rate_limited": "clever_unavailable",
    "bad_response": "clever_bad_response",
}
EXTENSION = "login_prefetch"


@dataclass(frozen=True)
class LoginResult:
    """Where the person goes next, and how the login's sync went (None: not a Clever account)."""

    next_url: str
    sync: sync.SyncOutcome | None


def init_app(app: Flask) -> None:
    """The pool for the login's prefetch: at most a few are ever in flight per process."""
    app.extensions[EXTENSION] = ThreadPoolExecutor(
        max_workers=app.config["LOGIN_PREFETCH_WORKERS"], thread_name_prefix="login-prefetch"
    )


def complete_login(grant: oauth.CleverGrant) -> LoginResult:
    """Finish a login whose code was exchanged; raise LoginFailure for the error page."""
    api = sync.make_api(grant.access_token)
    me, clever_user, sections = read_identity(api)
    try:
        user, created = accounts.provision_from_clever(me, clever_user)
    except accounts.NoUsableRole:
        raise LoginFailure("no_usable_role", "clever user has no usable role") from None
    switch_person(user)
    oauth.mark_code_done(grant, user.id)
    store_token(user.id, grant.access_token)
    outcome = sync.sync_user(user, api, "login", clever_user=clever_user, sections=sections)
    return LoginResult(accounts.next_url_after_login(user, created), outcome)


def read_identity(api: CleverAPI) -> tuple[dict[str, Any], dict[str, Any], Future]:
    """``/me``, then ``/users/{id}`` with the sections read already on its way beside it."""
    try:
        me = api.me()
        sections = current_app.extensions[EXTENSION].submit(api.user_sections, me["id"])
        clever_user = api.user(me["id"])
    except CleverAPIError as error:
        raise LoginFailure(API_FAILURES.get(error.kind, "clever_rejected"), error.kind) from None
    return me, clever_user, sections
