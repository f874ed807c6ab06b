"""Clever's OAuth endpoints: /oauth/authorize, /oauth/instant-login and /oauth/tokens.

Rules follow reference.md section 2: codes are single-use and live 60 seconds, `state` comes back
only if it was sent, the token request's `redirect_uri` must match the authorize request's byte
for byte, and the client authenticates with HTTP Basic.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

from flask import Blueprint, g, jsonify, request

from . import seed
from .core import (
    BadLoginHint,
    current,
    error_page,
    redirect_with_code,
    redirect_with_error,
    signed_in_user_id,
)
from .pages import DISTRICT_NAMES, render_picker, require_sign_in
from .state import short_hash

bp = Blueprint("oauth", __name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _check_client(client_id: str, redirect_uri: str | None):
    """An error page (never a redirect) when the client or redirect URI is not registered."""
    sandbox = current()
    if client_id != sandbox.client_id:
        return error_page(
            "Unknown app",
            "No app with this client_id is registered with this Clever sandbox. "
            "Check CLEVER_CLIENT_ID.",
        )
    if redirect_uri is not None and redirect_uri not in sandbox.redirect_uris:
        return error_page(
            "Redirect URI not registered",
            "The redirect_uri must match one of the app's registered redirect URIs exactly. "
            "Check CLEVER_REDIRECT_URI.",
        )
    if request.args.get("district_id") not in (None, "", *seed.DISTRICT_IDS):
        return error_page(
            "Unknown district",
            "This sandbox's districts: "
            + ", ".join(f"{name} ({district_id})" for district_id, name in DISTRICT_NAMES.items())
            + ".",
        )
    return None


@bp.get("/oauth/authorize")
def authorize():
    args = request.args
    redirect_uri = args.get("redirect_uri", "")
    problem = _check_client(args.get("client_id", ""), redirect_uri)
    if problem:
        return problem
    state = args.get("state")  # echoed only if present, as Clever does
    if args.get("response_type") != "code":
        return redirect_with_error(redirect_uri, "unsupported_response_type", state)
    challenge = args.get("code_challenge")
    method = args.get("code_challenge_method")
    if (challenge or method) and (not challenge or method != "S256"):
        return redirect_with_error(redirect_uri, "invalid_request", state)
    try:
        user_id = signed_in_user_id()
    except BadLoginHint as exc:
        return error_page("Unknown login hint", f"No persona or user is called {exc}.")
    if user_id is None:
        deny = {"client_id": args["client_id"], "redirect_uri": redirect_uri}
        if state is not None:
            deny["state"] = state
        return render_picker(request.full_path, deny=deny)
    return redirect_with_code(user_id, redirect_uri, state=state, code_challenge=challenge)


@bp.post("/oauth/deny")
def deny():
    """The picker's "Deny access" button: back to the app with error=access_denied."""
    form = request.form
    redirect_uri = form.get("redirect_uri", "")
    problem = _check_client(form.get("client_id", ""), redirect_uri)
    if problem:
        return problem
    return redirect_with_error(redirect_uri, "access_denied", form.get("state"))


@bp.get("/oauth/instant-login")
def instant_login():
    """A district's Instant Login link: like the Portal tile, it lands on the primary URI."""
    problem = _check_client(request.args.get("client_id", ""), None)
    if problem:
        return problem
    user_id, picker = require_sign_in()
    if picker:
        return picker
    return redirect_with_code(user_id, current().primary_redirect_uri)


def _token_error(status: int, error: str, description: str | None = None):
    body = {"error": error}
    if description:
        body["error_description"] = description
    response = jsonify(body)
    response.status_code = status
    response.headers.update(NO_STORE)
    return response


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _client_error():
    """401 invalid_client unless the request carries the app's HTTP Basic credentials."""
    sandbox = current()
    auth = request.authorization
    if (
        auth is None
        or auth.type != "basic"
        or auth.username != sandbox.client_id
        or not hmac.compare_digest((auth.password or "").encode(), sandbox.client_secret.encode())
    ):
        response = _token_error(401, "invalid_client")
        response.headers["WWW-Authenticate"] = 'Basic realm="Clever"'
        return response
    return None


@bp.get("/oauth/tokens")
def list_tokens():
    """The district-app token of every district that shares its rosters with the app.

    "Build a Teacher-Facing Roster App": the app lists them with its own client credentials
    (HTTP Basic) and reads rosters with the one whose `owner.id` is the user's district.
    """
    problem = _client_error()
    if problem:
        return problem
    if request.args.get("owner_type") != "district":
        return _token_error(400, "invalid_request", "owner_type must be district")
    data = [
        {
            "id": short_hash("district-app:" + token),
            "created": _stamp(created),
            "owner": {"type": "district", "id": district_id},
            "access_token": token,
            "scopes": [
                "read:district_admins",
                "read:school_admins",
                "read:students",
                "read:teachers",
                "read:user_id",
                "read:sections",
            ],
        }  # fmt: skip
        for district_id, token, created in current().state.district_tokens()
    ]
    response = jsonify(data=data, links=[{"rel": "self", "uri": request.full_path}])
    response.headers.update(NO_STORE)
    return response


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@bp.post("/oauth/tokens")
def tokens():
    sandbox = current()
    problem = _client_error()
    if problem:
        return problem

    # Clever accepts JSON or a form; anything else is an "invalid content type".
    if request.mimetype == "application/json":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _token_error(400, "invalid_request", "malformed JSON body")
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        body = request.form.to_dict()
    else:
        return _token_error(400, "invalid_request", "invalid content type")

    g.log_extra = {
        "grant_type": body.get("grant_type"),
        "redirect_uri": body.get("redirect_uri"),
        "code_verifier_sent": bool(body.get("code_verifier")),
    }
    if body.get("grant_type") != "authorization_code":
        return _token_error(400, "unsupported_grant_type")
    code = body.get("code")
    if not isinstance(code, str) or not code:
        return _token_error(400, "invalid_request", "missing code")
    g.code_hash = short_hash(code)

    grant = sandbox.state.redeem_code(code)
    if grant is None or grant.client_id != sandbox.client_id:
        return _token_error(400, "invalid_grant", "invalid code")
    g.log_user_id = grant.user_id
    if body.get("redirect_uri") != grant.redirect_uri:
        return _token_error(400, "invalid_grant", "redirect_uri does not match")
    if grant.code_challenge is not None:
        verifier = body.get("code_verifier")
        if not isinstance(verifier, str) or not hmac.compare_digest(
            s256(verifier).encode(), grant.code_challenge.encode()
        ):
            return _token_error(400, "invalid_grant", "code_verifier does not match")
        g.log_extra["pkce"] = "S256"

    token = sandbox.state.issue_token(grant.user_id, grant.authorized_by, code=code)
    g.token_hash = short_hash(token)
    response = jsonify(access_token=token, token_type="bearer")
    response.headers.update(NO_STORE)
    return response
