"""Firefox ESR (Selenium + geckodriver) and WebKit, the engine of Safari (Selenium + WebKitGTK's
WebKitWebDriver and MiniBrowser under Xvfb), against the app on a real port and the Clever
sandbox over real HTTP: Portal launch → dashboard → class page → logout, for a student and for a
teacher on their first login; a failed login's friendly page; axe on the dashboard and the
error page."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from clever.sandbox import seed

from .axe import axe_selenium, format_violations, serious_or_critical
from .conftest import SELENIUM_TIME_ZONE

pytestmark = pytest.mark.browser


@pytest.fixture(params=["firefox", "webkit"])
def browser(request):
    """Each Selenium-driven engine in turn (the session-scoped drivers live in conftest)."""
    return request.getfixturevalue(request.param)


def portal_launch(browser, first_name: str) -> None:
    browser.open(f"{browser.sandbox_url}/portal")
    browser.click_button(f"Log in as {first_name}")
    browser.wait_for_path(r"/portal$")
    browser.click_link("Roster Room")


def assert_accessible(browser, where: str) -> None:
    bad = serious_or_critical(axe_selenium(browser.driver))
    assert not bad, f"{where}: {format_violations(bad)}"


@pytest.mark.parametrize("persona", ["mateo", "ana"])
def test_portal_launch_dashboard_class_page_logout(browser, persona):
    person = seed.PERSONAS[persona]
    portal_launch(browser, person.name.split(" ")[0])
    if person.role == "teacher":
        browser.wait_for_path(r"/account/link$")
        browser.click_button("No, I'm new here")
    browser.wait_for_path(r"/dashboard$")
    assert browser.text_of("[data-testid=identity-name]") == person.name
    cards = browser.find_all("[data-testid=class-card]")
    assert len(cards) == len(seed.section_ids_for(person.user_id))
    if person.role == "student":
        assert_accessible(browser, "student dashboard")

    class_name = browser.text_of(".class-card .class-name a")
    browser.click(".class-card .class-name a")
    browser.wait_for_path(r"/classes/\d+$")
    assert browser.text_of("h1") == class_name
    assert browser.find_all("[data-testid=teachers] li")
    if person.role == "teacher":
        assert browser.find_all("[data-testid=roster] tbody tr")

    browser.click_button("Log out")
    browser.wait_for_path(r"/logged-out$")
    assert browser.text_of("h1") == "You are logged out of Roster Room"


def test_login_failure_shows_a_friendly_page(browser, sandbox):
    sandbox.add_fault(path="/oauth/tokens", status=500)
    browser.open("/login")
    browser.click_link("Log in with Clever")
    browser.click_button("Log in as Mateo")
    browser.find("[data-testid=login-error]")
    assert browser.text_of("h1") == "Clever isn't answering right now"
    assert re.fullmatch(r"[0-9A-F]{8}", browser.text_of("[data-testid=error-reference]"))
    assert any(link.text == "Try again" for link in browser.find_all("a.button"))
    assert not browser.find_all("[data-testid=identity-name]")
    assert_accessible(browser, "login error page")


# -- a teacher's day, polished (issue 14) --------------------------------------------------------


def test_switch_person_in_the_demo(browser):
    browser.open("/demo")
    browser.click_link("Pick a persona")
    browser.click_button("Log in as Mateo")
    browser.wait_for_path(r"/dashboard$")
    browser.click_button("Switch person")
    browser.wait_for_path(r"/oauth/authorize$")
    browser.click_button("Log in as Ana")
    browser.wait_for_path(r"/account/link$")
    browser.click_button("No, I'm new here")
    browser.wait_for_path(r"/dashboard$")
    assert browser.text_of("[data-testid=identity-name]") == "Ana Núñez"


def open_big_class(browser) -> None:
    portal_launch(browser, "Ana")
    browser.wait_for_path(r"/account/link$")
    browser.click_button("No, I'm new here")
    browser.wait_for_path(r"/dashboard$")
    browser.click_link("Grade 4 Math - Núñez - 2")
    browser.wait_for_path(r"/classes/\d+$")


def visible_rows(browser) -> int:
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('table.roster tbody tr')].filter(r => !r.hidden)"
        ".length"
    )


def test_roster_filter_sort_and_csv(browser):
    open_big_class(browser)
    assert visible_rows(browser) == 135
    box = browser.find("[data-testid=roster-filter]")
    box.send_keys("nunez")  # no accents typed; finds the Núñez, Nuñez … of the class
    browser.wait(lambda driver: visible_rows(browser) < 135, "the filter never applied")
    shown = browser.driver.execute_script(
        "return [...document.querySelectorAll('table.roster tbody tr')].filter(r => !r.hidden)"
        ".map(r => r.querySelector('.person-name').textContent)"
    )
    assert shown and all(
        "nunez" in unicodedata.normalize("NFD", n).encode("ascii", "ignore").decode().lower()
        for n in shown
    ), shown
    # The CSV, fetched by the page with the teacher's own session.
    disposition, text = browser.driver.execute_async_script(
        "const done = arguments[0];"
        "fetch(document.querySelector('[data-testid=export-csv]').href)"
        ".then(r => r.text().then(t => done([r.headers.get('Content-Disposition'), t])),"
        " e => done(['', 'error ' + e]));"
    )
    assert 'filename="Grade-4-Math-Nunez-2-roster.csv"' in disposition, disposition
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == "Last name,First name,Grade" and len(lines) == 136
    browser.click_link("grade")
    browser.wait_for_path(r"/classes/\d+$")
    assert "sort=grade" in browser.driver.current_url and visible_rows(browser) == 135


def test_library_names_and_local_time(browser):
    portal_launch(browser, "Hana")
    browser.wait_for_path(r"/account/link$")
    browser.click_button("No, I'm new here")
    browser.wait_for_path(r"/onboarding$")
    browser.find("input[name=school_name]").send_keys("Birch Middle School")
    browser.click_button("Save and continue")
    browser.wait_for_path(r"/dashboard$")
    moment = browser.find("[data-testid=last-synced] time[data-local]")
    stamp = moment.get_attribute("datetime")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    assert moment.get_attribute("title").endswith(" UTC")  # the server's text, kept on hover
    # Shown in the browser's zone (conftest starts it in New York, the machine runs on UTC).
    zone = browser.driver.execute_script("return Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert zone == SELENIUM_TIME_ZONE
    local = datetime.fromisoformat(stamp).astimezone(ZoneInfo(zone))
    assert f"{local:%I:%M}" in moment.text and "UTC" not in moment.text, moment.text
    assert re.search(r"E[SD]T|GMT-[45]", moment.text), moment.text
    browser.click(".class-card .class-name a")
    browser.wait_for_path(r"/classes/\d+$")
    assert "Primary" in browser.text_of("[data-testid=teachers]")
    names = [cell.text for cell in browser.find_all("table.roster td.person-name")]
    assert names and all(re.fullmatch(r"\S.* \w\.", name) for name in names), names
