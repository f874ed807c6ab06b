"""What every sandbox blueprint shares: its configuration, its state, who is signed in to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import current_app, g, jsonify, redirect, render_template, request, session

from . import seed
from .state import SandboxState, short_hash

MODES = ("test", "development", "demo", "production")
SESSION_USER_KEY = "uid"


@dataclass
class Sandbox:
    """One sandbox instance: the single app client it knows, its mode, and its memory."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    mode: str = "test"
    app_name: str = "Roster Room"
    state: SandboxState = field(default_factory=SandboxState)

    @property
    def primary_redirect_uri(self) -> str:
        """Portal, Instant Login and Library logins always land on the first URI."""
        return self.redirect_uris[0]

    @property
    def test_hooks(self) -> bool:
        """The control API and login_hint exist only outside production."""
        return self.mode != "production"


def current() -> Sandbox:
    return current_app.extensions["clever_sandbox"]


# -- who is signed in to the sandbox ("Clever") -------------------------------------------------


class BadLoginHint(ValueError):
    pass


def signed_in_user_id() -> str | None:
    """The user the browser is signed in to the sandbox as, like a live Clever session.

    In test and demo mode `login_hint=<persona key or user id>` picks the user directly (and
    signs the browser in), so requests-based tests need no HTML form.
    """
    hint = request.args.get("login_hint")
    if hint and current().test_hooks:
        user_id = seed.resolve_user_id(hint)
        if user_id is None:
            raise BadLoginHint(hint)
        sign_in(user_id)
        return user_id
    user_id = session.get(SESSION_USER_KEY)
    return user_id if user_id and seed.resolve_user_id(user_id) else None


def sign_in(user_id: str) -> None:
    session.clear()
    session[SESSION_USER_KEY] = user_id


def authorized_by_for(user_id: str) -> str:
    """ "district" when the user's district has connected the app at district level (always
    taking precedence over the Library), else "teacher" (a Library login)."""
    return current().state.authorized_by(user_id)


def display_name_for(user_id: str | None) -> str | None:
    if not user_id:
        return None
    persona = seed.persona_for(user_id)
    if persona:
        return persona.name
    with current().state.lock:
        user = current().state.roster.user(user_id)
        return seed.display_name(user["name"]) if user else None


# -- responses ----------------------------------------------------------------------------------


def with_query(uri: str, params: dict[str, str]) -> str:
    """Append params to a redirect URI without touching a byte of what it already has."""
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


def redirect_with_code(
    user_id: str, redirect_uri: str, state: str | None = None, code_challenge: str | None = None
):
    """Issue a code and send the browser to the app, adding `state` only if one was sent."""
    sandbox = current()
    code = sandbox.state.issue_code(
        user_id=user_id,
        client_id=sandbox.client_id,
        redirect_uri=redirect_uri,
        authorized_by=authorized_by_for(user_id),
        code_challenge=code_challenge,
    )
    g.log_user_id = user_id
    g.code_hash = short_hash(code)
    params = {"code": code}
    if state is not None:
        params["state"] = state
    response = redirect(with_query(redirect_uri, params), code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect_with_error(redirect_uri: str, error: str, state: str | None = None):
    params = {"error": error}
    if state is not None:
        params["state"] = state
    return redirect(with_query(redirect_uri, params), code=302)


def error_page(title: str, message: str, status: int = 400):
    return render_template("sandbox/error.html", title=title, message=message), status


def api_error(status: int, message: str, headers: dict[str, str] | None = None):
    """Clever's Data API error shape: always {"message": ...}."""
    response = jsonify(message=message)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}
