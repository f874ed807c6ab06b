"""The sandbox's human pages: home, the persona picker (its "Clever login"), Portal, Library."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for

from . import seed
from .core import (
    BadLoginHint,
    current,
    display_name_for,
    error_page,
    redirect_with_code,
    sign_in,
    signed_in_user_id,
)

bp = Blueprint("pages", __name__)


def safe_next(value: str | None) -> str:
    """Only ever continue to a path on the sandbox itself (no open redirect)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return url_for("pages.home")


def render_picker(next_path: str, deny: dict[str, str] | None = None, status: int = 200):
    """Clever's login page, simulated: pick who to be. `deny` adds a "Deny access" form."""
    sandbox = current()
    return (
        render_template(
            "sandbox/picker.html",
            personas=list(seed.PERSONAS.values()),
            section_counts={
                p.key: len(seed.section_ids_for(p.user_id)) for p in seed.PERSONAS.values()
            },
            next_path=next_path,
            deny=deny,
            app_name=sandbox.app_name,
        ),
        status,
    )


def require_sign_in():
    """(user_id, None) when signed in, else (None, the picker that returns here afterwards)."""
    try:
        user_id = signed_in_user_id()
    except BadLoginHint as exc:
        return None, error_page("Unknown login hint", f"No persona or user is called {exc}.")
    if user_id is None:
        return None, render_picker(request.full_path.rstrip("?"))
    return user_id, None


@bp.app_context_processor
def page_context():
    sandbox = current()
    return {
        "app_name": sandbox.app_name,
        "signed_in_name": display_name_for(session.get("uid")),
        "district_name": "Maple Grove USD",
    }


DISTRICT_NAMES = {
    seed.DISTRICT_ID: "Maple Grove USD",
    seed.LIBRARY_DISTRICT_ID: "Lakeview Public Schools",
    seed.RIVERBEND_DISTRICT_ID: "Riverbend Unified",
}


def district_connections() -> list[dict[str, str]]:
    """Each district and how it is connected to the app, for the home page."""
    state = current().state
    with state.lock:
        connections = dict(state.connections)
    rows = []
    for district_id, name in DISTRICT_NAMES.items():
        if district_id not in connections:
            status = "not connected: its teachers use the app through the Library"
        elif connections[district_id]:
            status = "connected at district level, sharing rosters (district-app token)"
        else:
            status = "connected at district level for sign-in only (no rosters shared)"
        rows.append({"id": district_id, "name": name, "status": status})
    return rows


@bp.get("/")
def home():
    sandbox = current()
    return render_template(
        "sandbox/home.html",
        client_id=sandbox.client_id,
        primary_redirect_uri=sandbox.primary_redirect_uri,
        district_id=seed.DISTRICT_ID,
        library_district_id=seed.LIBRARY_DISTRICT_ID,
        test_hooks=sandbox.test_hooks,
        districts=district_connections() if sandbox.test_hooks else [],
    )


@bp.post("/districts/connection")
def change_connection():
    """Demo and test mode: connect or disconnect a district, like its Clever admin would."""
    sandbox = current()
    district_id = request.form.get("district_id", "")
    action = request.form.get("action", "")
    if not sandbox.test_hooks or district_id not in DISTRICT_NAMES:
        return error_page("Not available", "Districts can be changed in test and demo mode.", 404)
    if action == "connect":
        sandbox.state.connect_district(district_id, rosters=True)
    elif action == "connect_sso":
        sandbox.state.connect_district(district_id, rosters=False)
    elif action == "disconnect":
        sandbox.state.disconnect_district(district_id)
    else:
        return error_page(
            "Unknown change", "Choose connect, connect for sign-in only or disconnect."
        )
    return redirect(url_for("pages.home"), code=303)


@bp.post("/login")
def choose_persona():
    persona = seed.PERSONAS.get(request.form.get("persona", ""))
    if persona is None:
        return error_page("Unknown persona", "Pick one of the people on the list.")
    sign_in(persona.user_id)
    return redirect(safe_next(request.form.get("next")), code=303)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """Sign out of the sandbox ("Clever"); the app's own session is the app's business."""
    session.clear()
    target = request.values.get("next")
    if target:
        return redirect(safe_next(target), code=303)
    return render_template("sandbox/logged_out.html")


@bp.get("/portal")
def portal():
    user_id, picker = require_sign_in()
    if picker:
        return picker
    return render_template("sandbox/portal.html", name=display_name_for(user_id))


@bp.get("/portal/launch")
def portal_launch():
    """Clicking the app's tile: a Clever-initiated login, so a code and no state."""
    user_id, picker = require_sign_in()
    if picker:
        return picker
    return redirect_with_code(user_id, current().primary_redirect_uri)


@bp.get("/library")
def library():
    user_id, picker = require_sign_in()
    if picker:
        return picker
    return render_template(
        "sandbox/library.html",
        name=display_name_for(user_id),
        is_teacher=_has_teacher_role(user_id),
        denied=request.args.get("denied") == "1",
    )


@bp.route("/library/install", methods=["GET", "POST"])
def library_install():
    """The consent screen Clever shows before a teacher shares their classes."""
    user_id, picker = require_sign_in()
    if picker:
        return picker
    if request.method == "GET":
        return render_template(
            "sandbox/consent.html",
            name=display_name_for(user_id),
            class_count=len(seed.section_ids_for(user_id)),
        )
    if request.form.get("decision") != "allow":
        return redirect(url_for("pages.library", denied="1"), code=303)
    return redirect_with_code(user_id, current().primary_redirect_uri)


def _has_teacher_role(user_id: str) -> bool:
    state = current().state
    with state.lock:
        user = state.roster.user(user_id)
        return bool(user and "teacher" in user["roles"])
