"""The test control API under /__sandbox__/ (registered only in test and demo mode).

Faults, the request log, the clock, the rate limit, roster mutations, and shortcuts that mint
codes and tokens without a browser.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from . import seed
from .core import api_error, authorized_by_for, current, json_body
from .roster import MutationError

bp = Blueprint("control", __name__, url_prefix="/__sandbox__")


def _state():
    return current().state


def _user_from(body: dict) -> str | None:
    key = body.get("persona") or body.get("user_id")
    return seed.resolve_user_id(key) if isinstance(key, str) else None


@bp.post("/reset")
def reset():
    _state().reset()
    return jsonify(ok=True)


@bp.route("/faults", methods=["GET"])
def list_faults():
    with _state().lock:
        return jsonify([fault.to_json() for fault in _state().faults])


@bp.post("/faults")
def add_fault():
    try:
        fault = _state().add_fault(json_body())
    except (TypeError, ValueError) as exc:
        return api_error(400, str(exc))
    return jsonify(id=fault.id), 201


@bp.delete("/faults")
def clear_faults():
    with _state().lock:
        _state().faults.clear()
    return jsonify(ok=True)


@bp.delete("/faults/<fault_id>")
def delete_fault(fault_id: str):
    state = _state()
    with state.lock:
        state.faults[:] = [f for f in state.faults if f.id != fault_id]
    return jsonify(ok=True)


@bp.get("/requests")
def requests_log():
    return jsonify(
        _state().log_entries(
            kind=request.args.get("kind") or None,
            path_prefix=request.args.get("path_prefix") or None,
        )
    )


@bp.delete("/requests")
def clear_requests():
    with _state().lock:
        _state().log.clear()
    return jsonify(ok=True)


@bp.route("/clock", methods=["GET", "POST"])
def clock():
    state = _state()
    if request.method == "POST":
        offset = json_body().get("offset")
        if not isinstance(offset, int | float) or isinstance(offset, bool):
            return api_error(400, "offset must be a number of seconds")
        with state.lock:
            state.clock_offset = float(offset)
    return jsonify(offset=state.clock_offset, now=state.now())


@bp.route("/config", methods=["GET", "POST"])
def config():
    state = _state()
    if request.method == "POST":
        body = json_body()
        unknown = set(body) - {"rate_limit", "empty_last_page", "user_token_lifetime"}
        if unknown:
            return api_error(400, f"unknown settings: {', '.join(sorted(unknown))}")
        limit = body.get("rate_limit", state.rate_limit)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            return api_error(400, "rate_limit must be a positive integer")
        lifetime = body.get("user_token_lifetime", state.user_token_lifetime)
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            return api_error(400, "user_token_lifetime must be a positive number of seconds")
        with state.lock:
            if "rate_limit" in body:
                state.rate_limit = limit
                state.rate_windows.clear()  # a new limit starts a fresh window
            state.empty_last_page = bool(body.get("empty_last_page", state.empty_last_page))
            state.user_token_lifetime = lifetime
    return jsonify(
        rate_limit=state.rate_limit,
        empty_last_page=state.empty_last_page,
        user_token_lifetime=state.user_token_lifetime,
    )


def _connection_op(op: str, body: dict):
    """connect_district / disconnect_district: the district-level connection of the app.

    `district_id` defaults to the Library teacher's district (Lakeview), so connecting it turns
    the Library teacher and her students into district logins. `rosters: false` connects for
    SSO only: logins are District SSO but no district-app token is listed.
    """
    unknown = set(body) - {"district_id", "rosters"}
    if unknown:
        return api_error(400, f"bad arguments for {op}: {', '.join(sorted(unknown))}")
    district_id = body.get("district_id") or seed.LIBRARY_DISTRICT_ID
    if district_id not in seed.DISTRICT_IDS:
        return api_error(400, f"unknown district {district_id!r}")
    rosters = body.get("rosters", True)
    if not isinstance(rosters, bool):
        return api_error(400, "rosters must be true or false")
    state = _state()
    if op == "connect_district":
        state.connect_district(district_id, rosters=rosters)
    else:
        state.disconnect_district(district_id)
    with state.lock:
        connected = district_id in state.connections
        shares = bool(state.connections.get(district_id))
    return jsonify(op=op, district_id=district_id, connected=connected, rosters=shares)


@bp.post("/mutate")
def mutate():
    body = json_body()
    op = body.pop("op", None)
    if not isinstance(op, str):
        return api_error(400, "mutate needs an op")
    if op in ("connect_district", "disconnect_district"):
        return _connection_op(op, body)
    state = _state()
    try:
        with state.lock:
            result = state.roster.apply(op, body, state.now_stamp())
    except MutationError as exc:
        return api_error(400, str(exc))
    return jsonify(op=op, **result)


@bp.post("/codes")
def issue_code():
    """A Clever-initiated style code (no browser, no state) for the given person."""
    sandbox = current()
    body = json_body()
    user_id = _user_from(body)
    if user_id is None:
        return api_error(400, "give a known persona or user_id")
    redirect_uri = body.get("redirect_uri") or sandbox.primary_redirect_uri
    if redirect_uri not in sandbox.redirect_uris:
        return api_error(400, "redirect_uri is not registered for the app")
    code = sandbox.state.issue_code(
        user_id=user_id,
        client_id=sandbox.client_id,
        redirect_uri=redirect_uri,
        authorized_by=authorized_by_for(user_id),
        code_challenge=body.get("code_challenge"),
    )
    return jsonify(code=code, user_id=user_id, redirect_uri=redirect_uri)


@bp.post("/tokens")
def issue_token():
    body = json_body()
    user_id = _user_from(body)
    if user_id is None:
        return api_error(400, "give a known persona or user_id")
    authorized_by = body.get("authorized_by") or authorized_by_for(user_id)
    if authorized_by not in ("district", "teacher"):
        return api_error(400, "authorized_by must be district or teacher")
    token = _state().issue_token(user_id, authorized_by)
    return jsonify(
        access_token=token, token_type="bearer", user_id=user_id, authorized_by=authorized_by
    )
