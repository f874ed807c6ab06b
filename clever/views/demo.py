"""GET /demo: the free demo. It runs the real login flow against the built-in Clever sandbox:
"Pick a persona" starts our own OAuth login (state, PKCE), which the sandbox answers with its
persona picker; the Portal and Library buttons start Clever-initiated logins from the sandbox."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, render_template

bp = Blueprint("demo", __name__)

# Hosts that mean the app talks to the real Clever, where there is no simulated one to offer.
REAL_CLEVER_HOSTS = {"clever.com", "www.clever.com"}

# The personas to suggest first (keys of clever.sandbox.seed.PERSONAS), in this order.
SUGGESTED_PERSONAS = ("ana", "mateo", "zoe", "library", "library_student", "siobhan")


def is_demo_mode() -> bool:
    """True unless CLEVER_OAUTH_BASE_URL points at the real Clever."""
    host = urlsplit(current_app.config["CLEVER_OAUTH_BASE_URL"]).hostname or ""
    return host.lower() not in REAL_CLEVER_HOSTS


def suggested_personas() -> list:
    from clever.sandbox import seed  # only needed in demo mode

    return [seed.PERSONAS[key] for key in SUGGESTED_PERSONAS if key in seed.PERSONAS]


@bp.get("/demo")
def demo():
    if not is_demo_mode():
        return render_template("demo/demo.html", demo_mode=False, personas=[], sandbox_url=None)
    return render_template(
        "demo/demo.html",
        demo_mode=True,
        personas=suggested_personas(),
        sandbox_url=current_app.config["CLEVER_OAUTH_BASE_URL"].rstrip("/"),
    )
