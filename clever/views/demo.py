"""GET /demo: the free demo, which runs the real flow against the built-in Clever sandbox."""

from flask import Blueprint, current_app, redirect

bp = Blueprint("demo", __name__)


@bp.get("/demo")
def demo():
    return redirect(current_app.config["CLEVER_OAUTH_BASE_URL"] + "/")
