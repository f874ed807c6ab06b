"""clever/forms.py: field limits follow the columns; onboarding asks only what is missing."""

from __future__ import annotations

from clever.forms import LoginForm, OnboardingForm, SignupForm, onboarding_form
from models import User


def test_onboarding_shows_only_the_missing_fields_prefilled(app):
    user = User(email="ana@school.org", school_name=None, role="teacher")
    with app.test_request_context("/onboarding", method="GET"):
        form = onboarding_form(user, ["school_name"])
        assert "contact_email" not in form and "school_name" in form
        both = onboarding_form(user, ["contact_email", "school_name"])
        assert both.contact_email.data == "ana@school.org"


def test_names_longer_than_the_column_are_refused(app):
    data = {
        "first_name": "A" * 301,
        "last_name": "B",
        "email": "a@b.org",
        "password": "a long passphrase",
        "school_name": "S" * 300,
    }
    with app.test_request_context("/signup", method="POST", data=data):
        app.config["WTF_CSRF_ENABLED"] = False
        form = SignupForm()
        assert not form.validate()
        assert set(form.errors) == {"first_name"}


def test_emails_are_stripped_and_checked(app):
    with app.test_request_context(
        "/login", method="POST", data={"email": "  ana@school.org ", "password": " x "}
    ):
        app.config["WTF_CSRF_ENABLED"] = False
        form = LoginForm()
        assert form.validate()
        assert form.email.data == "ana@school.org" and form.password.data == " x "
    with app.test_request_context("/onboarding", method="POST", data={"contact_email": "nope"}):
        form = OnboardingForm()
        form.validate()
        assert "contact_email" in form.errors
