"""Friendly error pages: plain words, what to do next, and a reference id that is also logged."""

from __future__ import annotations

import logging
import secrets

import redis
from flask import Flask, g, redirect, render_template, request, url_for
from flask_login import AnonymousUserMixin
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sqlalchemy_errors
from werkzeug.exceptions import HTTPException, SecurityError

from clever import metrics, ratelimit
from clever.sessions import get_redis

log = logging.getLogger("clever.errors")

# reason -> (HTTP status, headline, what happened and what to do)
LOGIN_FAILURES: dict[str, tuple[int, str, str]] = {
    "access_denied": (
        403,
        "You didn't give permission",
        "Clever asked whether to share your information with Roster Room and the answer was no. "
        "If that was a mistake, try again and choose Allow.",
    ),
    "no_code": (
        400,
        "Clever didn't finish signing you in",
        "We came back from Clever without a sign-in code. Please start again.",
    ),
    "bad_state": (
        400,
        "Your sign-in link had expired",
        "The sign-in started in another tab or a while ago, and we couldn't match it up. "
        "Please start again from this page.",
    ),
    "invalid_grant": (
        400,
        "That sign-in link was already used",
        "Sign-in codes from Clever work once and only for a minute. Please start again.",
    ),
    "clever_unavailable": (
        502,
        "Clever isn't answering right now",
        "We couldn't reach Clever to finish signing you in. Wait a minute and try again; "
        "if it keeps happening, Clever may be having an outage.",
    ),
    "clever_bad_response": (
        502,
        "Clever sent something we didn't understand",
        "Clever's answer was incomplete or not in the expected format. Please try again.",
    ),
    "clever_rejected": (
        502,
        "Clever didn't accept our sign-in request",
        "Clever refused the sign-in for this app. Try again; if it keeps happening, tell "
        "your school's Clever administrator and quote the reference below.",
    ),
    "no_usable_role": (
        403,
        "This app is for teachers and students",
        "Your Clever account isn't a teacher, student, staff or district admin account, so "
        "there is nothing here for you yet. If you think this is wrong, ask your school.",
    ),
    "in_progress": (
        409,
        "You're already signing in",
        "This sign-in link is already being processed, maybe in another tab. "
        "Give it a moment, then try again.",
    ),
}


class LoginFailure(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason if reason in LOGIN_FAILURES else "clever_unavailable"
        self.detail = detail


class ServiceUnavailable(HTTPException):
    code = 503
    description = "The service is briefly unavailable."


# A store we depend on is down or unreachable: a 503 to wait out, not a bug. Integrity and data
# errors are deliberately absent: those are bugs and stay 500s.
OUTAGES = (
    redis.RedisError,
    sqlalchemy_errors.OperationalError,
    sqlalchemy_errors.InterfaceError,
    sqlalchemy_errors.TimeoutError,
)


def is_outage(error: BaseException) -> bool:
    # An error raised by an after_request hook or the session arrives as a 500 wrapping it.
    original = getattr(error, "original_exception", None)
    return isinstance(error, OUTAGES) or isinstance(original, OUTAGES)


def new_reference() -> str:
    return secrets.token_hex(4).upper()


FAILURE_PREFIX = "login-failure:"
FAILURE_SECONDS = 900  # how long the failure page's reference finds its reason


def render_login_failure(error: LoginFailure):
    reference = new_reference()
    # The reference id joins the page to this line; no code, state, token or name is logged.
    log.warning("login failed ref=%s reason=%s detail=%s", reference, error.reason, error.detail)
    metrics.count_login(g.get("login_entry", "unknown"), error.reason)
    if request.endpoint == "auth.callback":
        # Leave the callback URL (and the used code in it) for a page that names only the id.
        get_redis().set(FAILURE_PREFIX + reference, error.reason, ex=FAILURE_SECONDS)
        return redirect(url_for("auth.login_failed", ref=reference), 303)
    return login_failure_page(error.reason, reference)


def render_login_failure_page(reference: str):
    reason = get_redis().get(FAILURE_PREFIX + reference) if reference.isalnum() else None
    # An unknown or expired reference: the sign-in is over either way; offer a fresh start.
    return login_failure_page(reason.decode() if reason else "bad_state", reference)


def login_failure_page(reason: str, reference: str):
    status, title, message = LOGIN_FAILURES.get(reason, LOGIN_FAILURES["bad_state"])
    return (
        render_template(
            "errors/login_failed.html",
            title=title,
            message=message,
            reason=reason,
            reference=reference,
        ),
        status,
    )


def render_http_error(status: int, title: str, message: str, headers: dict | None = None):
    reference = new_reference()
    log.warning("http error ref=%s status=%s path=%s", reference, status, request.path)
    body = render_template("errors/error.html", title=title, message=message, reference=reference)
    return body, status, headers or {}


def render_csrf_failure(error=None):
    return render_http_error(
        400,
        "This form had expired",
        "For your security, forms stop working after a while or in another tab. "
        "Go back, reload the page and send it again.",
    )


def init_error_pages(app: Flask) -> None:
    app.register_error_handler(LoginFailure, render_login_failure)

    app.register_error_handler(CSRFError, render_csrf_failure)

    @app.errorhandler(SecurityError)
    def untrusted_host(error):
        # A Host outside TRUSTED_HOSTS: no URL can be built for it, so no page template either.
        log.warning("refused a request for an untrusted host path=%s", request.path)
        return "Bad request: unknown host.\n", 400, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(ServiceUnavailable)
    def unavailable(error):
        # Nothing on this page may touch the database: show it as to a visitor who is not signed
        # in, instead of loading (or lazily reading) the signed-in user.
        g._login_user = AnonymousUserMixin()
        return render_http_error(
            503,
            "We'll be right back",
            "Part of Roster Room is briefly unavailable. Please try again in a minute.",
            {"Retry-After": "30"},
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if is_outage(error):
            return unavailable(ServiceUnavailable())
        titles = {
            400: (
                "That didn't work",
                "We couldn't use what this page sent. Go back and try again.",
            ),
            403: (
                "That came from another website",
                "For your security we only accept forms sent from Roster Room's own pages. "
                "Open Roster Room and try again there.",
            ),
            404: ("Page not found", "There is nothing at this address. Check the link or go home."),
            405: ("That didn't work", "This page can't be used that way. Go back and try again."),
            413: ("That was too much", "What this page sent is far larger than any of our forms."),
            429: ("Slow down a little", "Too many attempts. Wait a minute and try again."),
        }
        title, message = titles.get(
            error.code or 500, ("Something went wrong", error.description or "Please try again.")
        )
        headers = {}
        if error.code == 429:
            wait = getattr(error, "retry_after", None) or ratelimit.retry_after()
            if wait:
                headers["Retry-After"] = str(wait)
        return render_http_error(error.code or 500, title, message, headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        if is_outage(error):
            log.error("service unavailable path=%s: %s", request.path, type(error).__name__)
            return unavailable(ServiceUnavailable())
        reference = new_reference()
        log.exception("unhandled error ref=%s path=%s", reference, request.path)
        body = render_template(
            "errors/error.html",
            title="Something went wrong on our side",
            message="We've logged it. Please try again; if it keeps happening, "
            "quote the reference below.",
            reference=reference,
        )
        return body, 500
