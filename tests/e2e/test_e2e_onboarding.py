"""A teacher's first Clever login in Chromium: link an existing account, or say "I'm new" and
answer onboarding. The app runs on a real port and talks to the sandbox over real HTTP; the
browser picks the persona on the sandbox's simulated Clever login page."""

from __future__ import annotations

import re

import pytest

from clever.local_accounts import hash_password
from models import User, db

from .axe import axe_playwright, format_violations, serious_or_critical

pytestmark = pytest.mark.browser

LOCAL_EMAIL = "ana.legacy@example.org"
LOCAL_PASSWORD = "roster-room-demo"


def assert_accessible(page, where: str) -> None:
    bad = serious_or_critical(axe_playwright(page))
    assert not bad, f"{where}: {format_violations(bad)}"


def log_in_with_clever_as(page, button: str) -> None:
    """From our login page through the sandbox's persona picker and back to the app."""
    page.goto("/login")
    page.get_by_role("link", name="Log in with Clever").first.click()
    page.get_by_role("button", name=button).click()


def test_first_login_links_an_existing_account_then_lands_on_the_dashboard(app, page):
    with app.app_context():
        local = User(
            email=LOCAL_EMAIL,
            login_email=LOCAL_EMAIL.lower(),
            first_name="Ana",
            last_name="Legacy",
            role="teacher",
            password_hash=hash_password(LOCAL_PASSWORD),
            school_name="Cedar Elementary",
        )
        db.session.add(local)
        db.session.commit()
        local_id = local.id

    log_in_with_clever_as(page, "Log in as Ana")

    page.wait_for_url(re.compile(r"/account/link$"))
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Already have a Roster Room account?"
    )
    assert_accessible(page, "link offer")
    # A wrong password first: a clear, generic message, and the email stays filled in.
    page.get_by_label("Email for your existing account").fill(LOCAL_EMAIL)
    page.get_by_label("Password for your existing account").fill("not it")
    page.get_by_role("button", name="Link my account").click()
    assert page.get_by_role("alert").inner_text() == "Email or password is incorrect."
    assert page.get_by_label("Email for your existing account").input_value() == LOCAL_EMAIL
    assert page.get_by_label("Password for your existing account").input_value() == ""

    page.get_by_label("Password for your existing account").fill(LOCAL_PASSWORD)
    page.get_by_role("button", name="Link my account").click()

    page.wait_for_url(re.compile(r"/dashboard$"))
    assert page.get_by_test_id("identity-name").inner_text() == "Ana Núñez"
    assert page.get_by_text("Your Clever login is now linked").is_visible()
    with app.app_context():
        kept = db.session.get(User, local_id)
        assert kept.clever_id is not None and kept.first_name == "Ana"
        assert (
            db.session.scalar(
                db.select(db.func.count()).select_from(User).filter_by(clever_id=kept.clever_id)
            )
            == 1
        )


def test_first_login_as_a_new_teacher_goes_through_onboarding_to_the_dashboard(app, page):
    log_in_with_clever_as(page, "Log in as Renée")

    page.wait_for_url(re.compile(r"/account/link$"))
    page.get_by_role("button", name="No, I'm new here").click()

    page.wait_for_url(re.compile(r"/onboarding$"))
    assert page.get_by_role("heading", level=1).inner_text() == (
        "One more thing before your classes"
    )
    assert_accessible(page, "onboarding")
    email = page.get_by_label("Your email address")
    # Not stuck: a mistake is explained on the field, and the dashboard stays out of reach.
    email.fill("renee at school")
    page.get_by_role("button", name="Save and continue").click()
    assert email.get_attribute("aria-invalid") == "true"
    error_id = email.get_attribute("aria-describedby").split()[-1]
    assert "Enter an email address like" in page.locator(f"#{error_id}").inner_text()
    assert email.input_value() == "renee at school"
    assert_accessible(page, "onboarding with an error")
    page.goto("/dashboard")
    page.wait_for_url(re.compile(r"/onboarding$"))
    assert page.get_by_role("button", name="Log out", exact=True).is_visible()

    page.get_by_label("Your email address").fill("renee@cedar.example.org")
    page.get_by_role("button", name="Save and continue").click()

    page.wait_for_url(re.compile(r"/dashboard$"))
    assert page.get_by_test_id("identity-name").inner_text() == "Renée Dubois-Laurent"
    with app.app_context():
        renee = db.session.scalar(
            db.select(User).filter_by(contact_email="renee@cedar.example.org")
        )
        assert renee is not None and renee.onboarded_at is not None
