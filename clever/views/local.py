"""Local email + password accounts (for people who used the product before Clever): sign-up and
log-in. Thin views over clever.local_accounts; GET /login itself is auth.login_page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, Field, PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from clever import accounts, local_accounts
from clever.local_accounts import (
    MAX_EMAIL_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    EmailTaken,
    TooManyAttempts,
)
from clever.sessions import begin_session
from clever.tokens import delete_token

bp = Blueprint("local", __name__)

BAD_CREDENTIALS = "Email or password is incorrect."
TOO_MANY_ATTEMPTS = (
    "Too many attempts to sign in. For your security, please wait {minutes} before trying "
    "again, or log in with Clever instead."
)


class EmailAddress:
    """A light check (one "@", a dotted domain): the wtforms one needs email_validator."""

    def __init__(self, message: str = "Enter an email address like name@school.org.") -> None:
        self.message = message

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if field.data and not local_accounts.looks_like_email(field.data.strip()):
            raise ValidationError(self.message)


def strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class LoginForm(FlaskForm):
    email = EmailField(
        "Email",
        filters=[strip],
        validators=[
            DataRequired("Enter the email you signed up with."),
            EmailAddress(),
            Length(max=MAX_EMAIL_LENGTH),
        ],
    )
    # Passwords are never stripped: every character counts (ASVS 6.2.x).
    password = PasswordField(
        "Password",
        validators=[DataRequired("Enter your password."), Length(max=MAX_PASSWORD_LENGTH)],
    )


class SignupForm(FlaskForm):
    first_name = StringField(
        "First name",
        filters=[strip],
        validators=[DataRequired("Enter your first name."), Length(max=300)],
    )
    last_name = StringField(
        "Last name",
        filters=[strip],
        validators=[DataRequired("Enter your last name."), Length(max=300)],
    )
    email = EmailField(
        "Email",
        filters=[strip],
        validators=[
            DataRequired("Enter your email address."),
            EmailAddress(),
            Length(max=MAX_EMAIL_LENGTH),
        ],
    )
    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Choose a password."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=MAX_PASSWORD_LENGTH,
                message=(
                    f"Use {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters; "
                    "a short sentence works well."
                ),
            ),
        ],
    )
    school_name = StringField(
        "School name",
        filters=[strip],
        validators=[DataRequired("Enter the name of your school."), Length(max=300)],
    )


def client_ip() -> str:
    # remote_addr is only as trustworthy as the ProxyFix setup in front of it (HD-05).
    return request.remote_addr or "unknown"


def minutes_text(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def render_login(form: LoginForm, status: int, login_error: str | None = None, headers=None):
    body = render_template("auth/login.html", form=form, login_error=login_error)
    return body, status, headers or {}


def too_many_attempts(
    limited: TooManyAttempts, template: str = TOO_MANY_ATTEMPTS
) -> tuple[str, dict[str, str]]:
    message = template.format(minutes=minutes_text(limited.retry_after))
    return message, {"Retry-After": str(limited.retry_after)}


@bp.post("/login")
def login():
    form = LoginForm()
    if not form.validate_on_submit():
        return render_login(form, 400)
    try:
        user = local_accounts.authenticate(form.email.data, form.password.data, client_ip())
    except TooManyAttempts as limited:
        message, headers = too_many_attempts(limited)
        return render_login(form, 429, message, headers)
    if user is None:
        return render_login(form, 401, BAD_CREDENTIALS)
    if current_user.is_authenticated and current_user.id != user.id:
        # Shared device: the previous person is logged out entirely, Clever token included.
        delete_token(current_user.id)
    local_accounts.record_local_login(user)
    begin_session(user)
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
        local_accounts.check_ip_allowed(client_ip())
        user = local_accounts.create_local_account(
            form.email.data,
            form.password.data,
            form.first_name.data,
            form.last_name.data,
            form.school_name.data,
        )
    except EmailTaken:
        # Telling people they already have an account is kinder than a silent failure; the
        # IP counter keeps it from becoming a cheap way to test which emails have accounts.
        local_accounts.record_ip_failure(client_ip())
        form.email.errors = [
            "There is already an account with this email. Log in instead, or use a different email."
        ]
        return render_template("local/signup.html", form=form), 409
    except TooManyAttempts as limited:
        message, headers = too_many_attempts(limited)
        return render_template("local/signup.html", form=form, form_error=message), 429, headers
    local_accounts.record_local_login(user)
    begin_session(user)
    flash("Welcome to Roster Room! Your account is ready.", "success")
    return redirect(accounts.next_url_after_link_offer(user))
