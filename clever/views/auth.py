"""Log in with Clever (every entry point), log out, and the logged-out page."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.exceptions import TooManyRequests

from clever import accounts, oauth
from clever.api import CleverAPIError
from clever.errors import LoginFailure
from clever.extensions import csrf
from clever.sessions import begin_session, end_session
from clever.sync import make_api, sync_user
from clever.tokens import delete_token, store_token

bp = Blueprint("auth", __name__)

# Shared by every login in this process: at most a few prefetches are ever in flight.
prefetch = ThreadPoolExecutor(max_workers=4, thread_name_prefix="login-prefetch")

API_FAILURES = {
    "timeout": "clever_unavailable",
    "connection": "clever_unavailable",
    "server_error": "clever_unavailable",
    "rate_limited": "clever_unavailable",
    "bad_response": "clever_bad_response",
}


# Per client IP, over the OAuth start and callback together. Generous, because a whole school
# can sit behind one address at 8 a.m.; it exists to stop floods of token exchanges.
OAUTH_REQUESTS_PER_MINUTE = 600


@bp.before_request
def limit_oauth_requests():
    if request.endpoint in {"auth.clever_login", "auth.callback"}:
        retry_after = oauth.over_rate_limit(
            request.remote_addr or "unknown", OAUTH_REQUESTS_PER_MINUTE
        )
        if retry_after:
            raise TooManyRequests(retry_after=retry_after)
    return None


@bp.get("/login")
def login_page():
    from clever.views.local import LoginForm

    return render_template("auth/login.html", form=LoginForm())


@bp.get("/auth/clever/login")
def clever_login():
    attempt = request.args.get("attempt", "1")
    return redirect(oauth.start_authorization(int(attempt) if attempt.isdigit() else 1))


@bp.get("/auth/clever/callback")
def callback():
    code, state, error = (request.args.get(k) for k in ("code", "state", "error"))
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
        return redirect(oauth.start_authorization())
    if not oauth.is_pending_state(state):
        attempt = oauth.attempt_of(state)
        if attempt >= oauth.MAX_ATTEMPTS:
            raise LoginFailure("bad_state", "state unknown after a fresh authorization")
        return redirect(oauth.start_authorization(attempt + 1))
    grant = oauth.exchange_code(code, state)
    try:
        return complete_login(grant)
    except LoginFailure:
        oauth.mark_code_failed(grant)
        raise


def complete_login(grant: oauth.CleverGrant):
    api = make_api(grant.access_token)
    try:
        me = api.me()
        # The roster's first read goes out beside /users/{id}: one round trip less to wait.
        sections = prefetch.submit(api.user_sections, me["id"])
        clever_user = api.user(me["id"])
    except CleverAPIError as error:
        raise LoginFailure(API_FAILURES.get(error.kind, "clever_rejected"), error.kind) from None
    try:
        user, created = accounts.provision_from_clever(me, clever_user)
    except ValueError:
        raise LoginFailure("no_usable_role", "clever user has no usable role") from None
    if current_user.is_authenticated and current_user.id != user.id:
        # Shared device: the previous person is logged out entirely, token included.
        delete_token(current_user.id)
    begin_session(user)
    oauth.mark_code_done(grant, user.id)
    store_token(user.id, grant.access_token)
    run = sync_user(user, api, trigger="login", clever_user=clever_user, sections=sections)
    if run is not None and run.status == "failed":
        flash(
            "We couldn't refresh your classes from Clever just now, so you're seeing the last "
            "roster we imported. Try “Sync now” in a minute.",
            "warning",
        )
    elif run is not None and run.status == "skipped":
        flash("A sync of your classes is already running; they'll update in a moment.", "info")
    return redirect(accounts.next_url_after_login(user, created))


@bp.post("/logout")
@csrf.exempt  # logging out is always safe, and SameSite=Lax already stops cross-site posts
def logout():
    if current_user.is_authenticated:
        delete_token(current_user.id)
    end_session()
    response = redirect(url_for("auth.logged_out"))
    # Shared devices: drop anything the browser kept of this person's pages.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.get("/logged-out")
def logged_out():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    reason = request.args.get("reason")
    return render_template(
        "auth/logged_out.html", reason=reason if reason in {"idle", "expired"} else None
    )
