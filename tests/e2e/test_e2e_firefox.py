"""Firefox ESR (Selenium + geckodriver), against the app on a real port and the Clever sandbox
over real HTTP: Portal launch → dashboard → class page → logout, for a student and for a
teacher on their first login; a failed login's friendly page; axe on the dashboard and the
error page."""

from __future__ import annotations

import re

import pytest

from clever.sandbox import seed

from .axe import axe_selenium, format_violations, serious_or_critical

pytestmark = pytest.mark.browser


def portal_launch(browser, first_name: str) -> None:
    browser.open(f"{browser.sandbox_url}/portal")
    browser.click_button(f"Log in as {first_name}")
    browser.wait_for_path(r"/portal$")
    browser.click_link("Roster Room")


def assert_accessible(browser, where: str) -> None:
    bad = serious_or_critical(axe_selenium(browser.driver))
    assert not bad, f"{where}: {format_violations(bad)}"


@pytest.mark.parametrize("persona", ["mateo", "ana"])
def test_portal_launch_dashboard_class_page_logout(firefox, persona):
    person = seed.PERSONAS[persona]
    portal_launch(firefox, person.name.split(" ")[0])
    if person.role == "teacher":
        firefox.wait_for_path(r"/account/link$")
        firefox.click_button("No, I'm new here")
    firefox.wait_for_path(r"/dashboard$")
    assert firefox.text_of("[data-testid=identity-name]") == person.name
    cards = firefox.find_all("[data-testid=class-card]")
    assert len(cards) == len(seed.section_ids_for(person.user_id))
    if person.role == "student":
        assert_accessible(firefox, "student dashboard")

    class_name = firefox.text_of(".class-card .class-name a")
    firefox.click(".class-card .class-name a")
    firefox.wait_for_path(r"/classes/\d+$")
    assert firefox.text_of("h1") == class_name
    assert firefox.find_all("[data-testid=teachers] li")
    if person.role == "teacher":
        assert firefox.find_all("[data-testid=roster] tbody tr")

    firefox.click_button("Log out")
    firefox.wait_for_path(r"/logged-out$")
    assert firefox.text_of("h1") == "You are logged out of Roster Room"


def test_login_failure_shows_a_friendly_page(firefox, sandbox):
    sandbox.add_fault(path="/oauth/tokens", status=500)
    firefox.open("/login")
    firefox.click_link("Log in with Clever")
    firefox.click_button("Log in as Mateo")
    firefox.find("[data-testid=login-error]")
    assert firefox.text_of("h1") == "Clever isn't answering right now"
    assert re.fullmatch(r"[0-9A-F]{8}", firefox.text_of("[data-testid=error-reference]"))
    assert any(link.text == "Try again" for link in firefox.find_all("a.button"))
    assert not firefox.find_all("[data-testid=identity-name]")
    assert_accessible(firefox, "login error page")
