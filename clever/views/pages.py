"""Information pages anyone may read: the privacy notice (the Clever Library listing links it)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from clever.commands import DEFAULT_ARCHIVED_DAYS

bp = Blueprint("pages", __name__)


@bp.get("/privacy")
def privacy():
    return render_template(
        "pages/privacy.html",
        contact=current_app.config.get("PRIVACY_CONTACT"),
        archived_days=DEFAULT_ARCHIVED_DAYS,
        idle_minutes=current_app.config["SESSION_IDLE_MINUTES"],
    )
