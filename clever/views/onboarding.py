"""A teacher's first Clever login: the offer to link an existing local account, and onboarding
(only the fields our product needs that Clever did not supply). Also the gate that keeps a user
with missing fields out of the rest of the app until they have answered."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from clever import accounts
from clever.accounts import LINK_OFFER_KEY, LinkError
from clever.forms import (
    BAD_CREDENTIALS,
    DECLINE_PREFIX,
    LinkForm,
    decline_form,
    onboarding_form,
)
from clever.negotiate import wants_json
from clever.ratelimit import TooManyAttempts, client_address
from clever.sessions import begin_session, end_other_sessions

bp = Blueprint("onboarding", __name__)

LINK_ERRORS = {
    "bad_credentials": (401, BAD_CREDENTIALS),
    "linked_elsewhere": (
        409,
        "That account is already linked to a different Clever login, so it can't be linked to "
        "this one. Log in with that Clever account instead, or choose “No, I'm new here”.",
    ),
}

LINK_TOO_MANY_ATTEMPTS = (
    "Too many attempts with the wrong password. For your security, please wait {minutes} "
    "before trying again, or carry on without linking."
)

# Endpoints a logged-in user may reach before finishing onboarding: the way through, the way
# out, and what the page itself needs. Everything else is gated.
UNGATED_ENDPOINTS = {"static", "health.healthz"}
UNGATED_BLUEPRINTS = {"onboarding", "auth", "local"}


@bp.before_app_request
def require_onboarding():
    """Send a logged-in user with missing fields to /onboarding, wherever they were going."""
    if request.endpoint in UNGATED_ENDPOINTS or request.blueprint in UNGATED_BLUEPRINTS:
        return None
    if request.endpoint is None or not current_user.is_authenticated:
        return None
    if not accounts.missing_onboarding_fields(current_user):
        return None
    if wants_json():
        return {"error": "onboarding_required"}, 403
    return redirect(url_for("onboarding.onboarding"))


def render_link(
    link_form: LinkForm, status: int = 200, form_error: str | None = None, headers=None
):
    body = render_template(
        "onboarding/link.html",
        link_form=link_form,
        decline_form=decline_form(),
        expired=False,
        form_error=form_error,
    )
    return body, status, headers or {}


def render_expired(status: int = 200):
    body = render_template(
        "onboarding/link.html", decline_form=decline_form(), expired=True, link_form=None
    )
    return body, status


@bp.route("/account/link", methods=["GET", "POST"])
@login_required
def link_account():
    user = current_user._get_current_object()
    if not user.is_teacher or user.link_offer_decided_at is not None or not user.clever_id:
        # Students never see the offer; a decided or local-only account has nothing to do here.
        return redirect(accounts.next_url_after_link_offer(user, record=False))
    offer_until = session.get(LINK_OFFER_KEY)
    if request.method == "POST" and f"{DECLINE_PREFIX}-decline" in request.form:
        # "No, I'm new" always works, even after the offer expired: it must never trap anyone.
        if not decline_form().validate_on_submit():
            return render_expired(400)
        accounts.decline_link_offer(user)
        session.pop(LINK_OFFER_KEY, None)
        return redirect(accounts.next_url_after_link_offer(user))
    if not accounts.link_offer_open(user, offer_until):
        return render_expired(200 if request.method == "GET" else 400)
    form = LinkForm()
    if request.method == "GET":
        return render_link(form)
    if not form.validate_on_submit():
        return render_link(form, 400)
    try:
        kept = accounts.link_clever_login(
            user, form.email.data, form.password.data, client_address()
        )
    except TooManyAttempts as limited:
        message = LINK_TOO_MANY_ATTEMPTS.format(minutes=limited.wait_text)
        return render_link(form, 429, message, limited.headers)
    except LinkError as error:
        if error.reason not in LINK_ERRORS:
            return redirect(accounts.next_url_after_link_offer(user, record=False))
        status, message = LINK_ERRORS[error.reason]
        return render_link(form, status, message)
    # The person is now the kept account: a fresh session for it (the old one dies in Redis).
    # Whoever else was signed in to the local account is signed out: it now answers to Clever.
    end_other_sessions(kept.id)
    begin_session(kept)
    flash("Your Clever login is now linked to your existing Roster Room account.", "success")
    return redirect(accounts.next_url_after_link_offer(kept))


@bp.route("/onboarding", methods=["GET", "POST"])
@login_required
def onboarding():
    user = current_user._get_current_object()
    missing = accounts.missing_onboarding_fields(user)
    if not missing:
        return redirect(url_for("dashboard.dashboard"))
    form = onboarding_form(user, missing)
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("onboarding/onboarding.html", form=form, missing=missing), status
    accounts.complete_onboarding(
        user,
        contact_email=form.contact_email.data if "contact_email" in missing else None,
        school_name=form.school_name.data if "school_name" in missing else None,
    )
    flash("Thanks, you're all set.", "success")
    return redirect(url_for("dashboard.dashboard"))
