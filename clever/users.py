"""Flask-Login wiring: how a session's user id becomes the current user."""

from __future__ import annotations

from flask import Flask, redirect, url_for
from sqlalchemy import bindparam
from sqlalchemy.orm import joinedload

from clever.extensions import login_manager
from clever.negotiate import wants_json_refusal
from models import User, db

# Every page names the user's school or district (the identity, onboarding's check): read them
# with the user, not in two more queries. Built once: every request runs it.
_USER_WITH_PLACES = (
    db.select(User)
    .options(joinedload(User.school), joinedload(User.district))
    .where(User.id == bindparam("user_id"))
)


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    # Our sessions are server-side and replaced at every login; Flask-Login's IP/agent
    # fingerprint would only log phones out when they change networks.
    login_manager.session_protection = None

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        if not user_id.isdigit():
            return None
        return db.session.scalar(_USER_WITH_PLACES, {"user_id": int(user_id)})

    @login_manager.unauthorized_handler
    def unauthorized():
        if wants_json_refusal():
            return {"error": "login_required"}, 401
        return redirect(url_for("auth.login_page"))
