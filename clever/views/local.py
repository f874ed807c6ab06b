"""Local email + password accounts (for people who used the product before Clever): sign-up and
log-in. Thin views over clever.local_accounts; GET /login itself is auth.login_page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from clever import accounts, local_accounts, ratelimit
from clever.forms import BAD_CREDENTIALS, LoginForm, SignupForm
from clever.local_accounts import EmailTaken
from clever.ratelimit import TooManyAttempts, client_address
from clever.sessions import switch_person

bp = Blueprint("local", __name__)

TOO_MANY_ATTEMPTS = (
    "Too many attempts to sign in. For your security, please wait {minutes} before trying "
    "again, or log in with Clever instead."
)


def render_login(form: LoginForm, status: int, login_error: str | None = None, headers=None):
    body = render_template("auth/login.html", form=form, login_error=login_error)
    return body, status, headers or {}


@bp.post("/login")
def login():
    form = LoginForm()
    if not form.validate_on_submit():
        return render_login(form, 400)
    try:
        user = local_accounts.authenticate(form.email.data, form.password.data, client_address())
    except TooManyAttempts as limited:
        message = TOO_MANY_ATTEMPTS.format(minutes=limited.wait_text)
        return render_login(form, 429, message, limited.headers)
    if user is None:
        return render_login(form, 401, BAD_CREDENTIALS)
    local_accounts.record_local_login(user)
    switch_person(user)
    return redirect(accounts.next_url_after_link_offer(user))


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    form = SignupForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("local/signup.html", form=form), status
    try:
        ratelimit.check_attempts_allowed(None, client_address())
        user = local_accounts.create_local_account(
            form.email.data,
            form.password.data,
            form.first_name.data,
            form.last_name.data,
            form.school_name.data,
        )
    except EmailTaken:
        # Telling people they already have an account is kinder than a silent failure; the
        # address counter keeps it from becoming a cheap way to test which emails have accounts.
        ratelimit.record_failure(None, client_address())
        form.email.errors = [
            "There is already an account with this email. Log in instead, or use a different email."
        ]
        return render_template("local/signup.html", form=form), 409
    except TooManyAttempts as limited:
        message = TOO_MANY_ATTEMPTS.format(minutes=limited.wait_text)
        return (
            render_template("local/signup.html", form=form, form_error=message),
            429,
            (limited.headers),
        )
    local_accounts.record_local_login(user)
    switch_person(user)
    flash("Welcome to Roster Room! Your account is ready.", "success")
    return redirect(accounts.next_url_after_link_offer(user))
