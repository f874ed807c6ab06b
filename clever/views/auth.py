"""Log in with Clever (every entry point), log out, and the logged-out page."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from clever import login, metrics, oauth, ratelimit
from clever.errors import LoginFailure, render_csrf_failure, render_login_failure_page
from clever.forms import LoginForm
from clever.security import request_site
from clever.sessions import end_session
from clever.sync import SyncOutcome
from clever.tokens import delete_token

bp = Blueprint("auth", __name__)
log = logging.getLogger("clever.auth")


@bp.get("/login")
def login_page():
    return render_template("auth/login.html", form=LoginForm())


@bp.get("/auth/clever/login")
@ratelimit.oauth_limit
def clever_login():
    attempt = request.args.get("attempt", "1")
    return redirect(
        oauth.start_authorization(int(attempt) if attempt.isascii() and attempt.isdigit() else 1)
    )


@bp.get("/auth/clever/callback")
@ratelimit.oauth_limit
def callback():
    # The login's time budget starts now and covers the code exchange too: whatever Clever
    # does, the answer leaves before gunicorn's worker timeout (gunicorn.conf.py).
    deadline = time.time() + current_app.config["LOGIN_DEADLINE_SECONDS"]
    code, state, error = (request.args.get(k) for k in ("code", "state", "error"))
    g.login_entry = oauth.entry_of(state)  # for the logins metric, success or failure
    if error:
        oauth.forget_state(state)
        raise LoginFailure(
            "access_denied" if error == "access_denied" else "clever_rejected", error[:40]
        )
    if not code:
        raise LoginFailure("no_code")
    if oauth.already_logged_in_from(code):
        return redirect(url_for("dashboard.home"))
    if state is None:
        # Portal, Instant Login, Library Install, student launch: never exchange a stateless
        # code; ask Clever again with our own state (it answers at once while signed in).
        return redirect(oauth.start_authorization(entry="clever"))
    if not oauth.is_pending_state(state):
        attempt = oauth.attempt_of(state)
        if attempt >= oauth.MAX_ATTEMPTS:
            raise LoginFailure("bad_state", "state unknown after a fresh authorization")
        return redirect(oauth.start_authorization(attempt + 1, entry="retry"))
    grant = oauth.exchange_code(code, state, deadline)
    try:
        result = login.complete_login(grant, deadline)
    except LoginFailure:
        oauth.mark_code_failed(grant)
        raise
    metrics.count_login(g.login_entry, "ok")
    flash_sync_notice(result.sync)
    return redirect(result.next_url)


def flash_sync_notice(outcome: SyncOutcome | None) -> None:
    """The login goes on whatever the sync did; say so when the roster may be stale."""
    if outcome is None:
        return
    if outcome.failed and not current_user.is_teacher:
        # Teachers read this in the sync panel already: one warning, not the same one twice.
        flash(
            "We couldn't refresh your classes from Clever just now, so you're seeing the "
            "classes we imported last time.",
            "warning",
        )
    elif outcome.skipped:
        flash("A sync of your classes is already running; they'll update in a moment.", "info")


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        delete_token(current_user.id)
    end_session()
    response = redirect(url_for("auth.logged_out"))
    # Shared devices: drop anything the browser kept of this person's pages.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.errorhandler(CSRFError)
def expired_form(error):
    """A logout form whose token expired still logs out, when the browser shows the post came
    from our own page: a forged cross-site logout is refused (CSRF), a teacher's old tab is not.
    Logging out is all it does. Without that proof, the page offers a fresh logout button."""
    if request.endpoint != "auth.logout":
        return render_csrf_failure(error)
    if request_site() == "same-origin":
        log.info("logout with an expired form token from our own page")
        return logout()
    return render_template("auth/logout_confirm.html"), 400


@bp.get("/auth/clever/failed/<string(maxlength=16):ref>")
def login_failed(ref: str):
    """Where a failed callback sends the browser, so the used code leaves the address bar."""
    return render_login_failure_page(ref)


@bp.get("/logged-out")
def logged_out():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    reason = request.args.get("reason")
    return render_template(
        "auth/logged_out.html", reason=reason if reason in {"idle", "expired"} else None
    )
