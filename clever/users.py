"""Flask-Login wiring: how a session's user id becomes the current user."""

from __future__ import annotations

from flask import Flask, redirect, url_for

from clever.extensions import login_manager
from clever.negotiate import wants_json_refusal
from models import User, db


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    # Our sessions are server-side and replaced at every login; Flask-Login's IP/agent
    # fingerprint would only log phones out when they change networks.
    login_manager.session_protection = None

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, int(user_id)) if user_id.isdigit() else None

    @login_manager.unauthorized_handler
    def unauthorized():
        if wants_json_refusal():
            return {"error": "login_required"}, 401
        return redirect(url_for("auth.login_page"))
