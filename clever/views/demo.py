"""GET /demo: the free demo. It runs the real login flow against the built-in Clever sandbox:
"Pick a persona" starts our own OAuth login (state, PKCE), which the sandbox answers with its
persona picker; the Portal and Library buttons start Clever-initiated logins from the sandbox.

POST /demo/switch ("Switch person") signs out of Roster Room and of the simulated Clever, then
shows the persona picker again: without it a second "Pick a persona" goes straight back in as
the same person, because the sandbox, like Clever, remembers who is signed in.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template
from flask_login import current_user

from clever import oauth
from clever.demo import DEMO_LOCAL_EMAIL, DEMO_LOCAL_PASSWORD
from clever.extensions import csrf
from clever.sessions import end_session
from clever.tokens import delete_token
from models import User, db

bp = Blueprint("demo", __name__)

# Hosts that mean the app talks to the real Clever, where there is no simulated one to offer.
REAL_CLEVER_HOSTS = {"clever.com", "www.clever.com"}

# The personas to suggest first (keys of clever.sandbox.seed.PERSONAS), in this order.
SUGGESTED_PERSONAS = ("ana", "mateo", "zoe", "library", "library_student", "siobhan")


def is_demo_mode() -> bool:
    """True unless CLEVER_OAUTH_BASE_URL points at the real Clever."""
    host = urlsplit(current_app.config["CLEVER_OAUTH_BASE_URL"]).hostname or ""
    return host.lower() not in REAL_CLEVER_HOSTS


def sandbox_url() -> str:
    return current_app.config["CLEVER_OAUTH_BASE_URL"].rstrip("/")


def suggested_personas() -> list:
    from clever.sandbox import seed  # only needed in demo mode

    return [seed.PERSONAS[key] for key in SUGGESTED_PERSONAS if key in seed.PERSONAS]


def demo_local_account() -> tuple[str, str] | None:
    """The seeded pre-Clever account for the link demo, when `make demo` seeded it."""
    found = db.session.scalar(db.select(User.id).filter_by(login_email=DEMO_LOCAL_EMAIL))
    return (DEMO_LOCAL_EMAIL, DEMO_LOCAL_PASSWORD) if found else None


@bp.app_context_processor
def inject_demo_mode() -> dict:
    return {"demo_mode": is_demo_mode}


@bp.get("/demo")
def demo():
    if not is_demo_mode():
        return render_template("demo/demo.html", personas=[], sandbox_url=None, local=None)
    return render_template(
        "demo/demo.html",
        personas=suggested_personas(),
        sandbox_url=sandbox_url(),
        local=demo_local_account(),
    )


@bp.post("/demo/switch")
@csrf.exempt  # signing out is always safe, and SameSite=Lax already stops cross-site posts
def switch():
    """Sign out here and in the sandbox, then land on the sandbox's persona picker."""
    if not is_demo_mode():
        abort(404)
    if current_user.is_authenticated:
        delete_token(current_user.id)
    end_session()
    # A fresh login of our own (state, PKCE) in the new session; the sandbox's /logout then
    # continues to its authorize page, which shows the picker now that nobody is signed in.
    authorize = urlsplit(oauth.start_authorization())
    picker = f"{authorize.path}?{authorize.query}"
    return redirect(f"{sandbox_url()}/logout?{urlencode({'next': picker})}", code=303)
