"""The sandbox's app factory: a Flask app that behaves like Clever for everything we use."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from clever.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, split_uris

from . import api, control, faults, oauth, pages
from .core import MODES, Sandbox, api_error, current, error_page
from .state import SandboxState

COOKIE_NAME = "sandbox_session"
CONTROL_PREFIX = "/__sandbox__"
JSON_PREFIXES = ("/v3.0/", "/oauth/tokens", CONTROL_PREFIX)
JSON_PATHS = ("/me", "/userinfo")
# Inline <style> only, no scripts, no framing. No form-action: browsers apply it to the
# redirect that follows a form post, and ours go to the app's redirect URI.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
SECRET_QUERY_KEYS = {"code", "client_secret", "code_verifier", "access_token"}


def create_sandbox_app(
    client_id: str = DEMO_CLIENT_ID,
    client_secret: str = DEMO_CLIENT_SECRET,
    redirect_uris: Iterable[str] | str = (DEMO_REDIRECT_URI,),
    mode: str = "test",
    app_name: str = "Roster Room",
    secret_key: str | None = None,
) -> Flask:
    """Build a sandbox that knows one app client (id, secret, redirect URIs; first = primary).

    `mode` is test, development or demo (control API and login_hint on) or production (off).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    uris = split_uris(redirect_uris) if isinstance(redirect_uris, str) else tuple(redirect_uris)
    if not uris:
        raise ValueError("the sandbox needs at least one redirect URI")

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key or secrets.token_urlsafe(32),
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=mode == "production",
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    # Clever serves UTF-8 JSON in its own field order; keep names readable on the wire.
    app.json.sort_keys = False
    app.json.ensure_ascii = False

    sandbox = Sandbox(
        client_id=client_id,
        client_secret=client_secret,
        redirect_uris=uris,
        mode=mode,
        app_name=app_name,
        state=SandboxState(),
    )
    app.extensions["clever_sandbox"] = sandbox

    app.register_blueprint(pages.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(api.bp)
    if sandbox.test_hooks:
        app.register_blueprint(control.bp)

    app.before_request(_fire_fault)
    app.after_request(_finish)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
    return app


def _wants_json(path: str) -> bool:
    return path.startswith(JSON_PREFIXES) or path in JSON_PATHS


def request_kind(path: str, method: str = "POST") -> str:
    if path == "/oauth/tokens":
        return "token" if method == "POST" else "token_list"
    if path in ("/oauth/authorize", "/oauth/deny"):
        return "authorize"
    if path == "/oauth/instant-login":
        return "instant_login"
    if path.startswith("/v3.0/") or path in JSON_PATHS:
        return "api"
    for prefix, kind in (("/portal", "portal"), ("/library", "library"), ("/login", "login")):
        if path == prefix or path.startswith(prefix + "/"):
            return kind
    return "page"


def _fire_fault() -> Response | None:
    if request.path.startswith(CONTROL_PREFIX):
        return None
    state = current().state
    g.started = state.now()
    fault = state.take_fault(request.path, request.method)
    return faults.apply(fault, state.now()) if fault else None


def _finish(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith(CONTROL_PREFIX):
        return response
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    if g.get("truncate"):
        faults.truncate(response)
    state = current().state
    entry = {
        "method": request.method,
        "path": request.path,
        "query": {
            k: ("[redacted]" if k in SECRET_QUERY_KEYS else v) for k, v in request.args.items()
        },
        "time": g.get("started", state.now()),
        # When the answer left: after any injected delay (faults.apply sleeps in before_request)
        # and after the body was built, just before its bytes are written. So a request that
        # needed this answer always starts after `ended`, and one that started before `ended`
        # could not have needed it (tests/waves.py counts dependent waves from the two).
        "ended": state.now(),
        "status": None if g.get("dropped") else response.status_code,
        "kind": request_kind(request.path, request.method),
        "user_id": g.get("log_user_id"),
        "code_hash": g.get("code_hash"),
        "token_hash": g.get("token_hash"),
        # API calls: district_user, library_user or district_app; and whether the token's
        # scopes refused the call (a 404 "Resource not in token's scopes").
        "token_kind": g.get("token_kind"),
        "out_of_scope": g.get("out_of_scope", False),
        "fault": g.get("fault_id"),
    }
    entry.update(g.get("log_extra") or {})
    state.record(entry)
    return response


def _http_error(exc: HTTPException):
    if _wants_json(request.path):
        return api_error(exc.code or 500, exc.name)
    return error_page(exc.name, exc.description or "", exc.code or 500)


def _server_error(exc: Exception):
    current_app.logger.exception("sandbox error on %s %s", request.method, request.path)
    if _wants_json(request.path):
        return api_error(500, "internal error")
    return error_page("Something went wrong", "The sandbox hit an unexpected error.", 500)
