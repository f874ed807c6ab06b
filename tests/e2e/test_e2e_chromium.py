"""Chromium (Playwright), desktop and phones: the experience end to end, against the app on a
real port and the Clever sandbox over real HTTP.

Portal launch → dashboard → class page → logout; a failed login's friendly page; our own
"Log in with Clever" button; a student taking over a teacher's browser; the logged-out page;
the free demo; and the whole path with JavaScript turned off.
"""

from __future__ import annotations

import re

import pytest
from flows import base_letter

from clever.sandbox import seed

pytestmark = pytest.mark.browser

DASHBOARD = re.compile(r"/dashboard$")
LINK_OFFER = re.compile(r"/account/link$")
CLASS_PAGE = re.compile(r"/classes/\d+$")
LOGGED_OUT = re.compile(r"/logged-out$")


# -- moves a person makes -------------------------------------------------------------------------


def pick_persona(page, first_name: str) -> None:
    """On the sandbox's simulated Clever login page, log in as someone."""
    page.get_by_role("button", name=f"Log in as {first_name}", exact=True).click()


def continue_as_new_teacher(page) -> None:
    """A teacher's first Clever login offers to link an existing account: say "I'm new"."""
    page.wait_for_url(LINK_OFFER)
    page.get_by_role("button", name="No, I'm new here").click()


def portal_launch(page, sandbox, first_name: str) -> None:
    """Open the Clever Portal, log in to Clever there, and click our app's tile."""
    page.goto(f"{sandbox.url}/portal")
    pick_persona(page, first_name)
    page.wait_for_url(f"{sandbox.url}/portal")
    page.get_by_role("link", name="Roster Room").click()


def log_in_with_our_button(page, first_name: str) -> None:
    page.goto("/")
    page.get_by_role("link", name="Log in with Clever").first.click()
    pick_persona(page, first_name)


def identity(page) -> str:
    return page.get_by_test_id("identity-name").inner_text()


def log_out(page) -> None:
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url(LOGGED_OUT)


def assert_no_horizontal_scroll(page, where: str) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{where}: the page scrolls sideways by {overflow}px"


def assert_fits(page, locator, where: str) -> None:
    """The element's box lies within the viewport's width (long names wrap, not overflow)."""
    box = locator.bounding_box()
    width = page.evaluate("() => document.documentElement.clientWidth")
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (
        f"{where}: {box} does not fit a {width}px wide screen"
    )


# -- Portal launch → dashboard → class page → logout ----------------------------------------------


@pytest.mark.parametrize(
    ("device", "persona"),
    [(None, "mateo"), ("iphone", "siobhan"), ("pixel", "mateo"), (None, "library_student")],
    ids=["desktop", "iphone", "pixel", "library-student"],
)
def test_student_portal_launch_dashboard_class_page_logout(
    new_context, sandbox, screenshot, device, persona
):
    person = seed.PERSONAS[persona]
    page = new_context(device).new_page()
    portal_launch(page, sandbox, person.name.split(" ")[0])

    page.wait_for_url(DASHBOARD)  # students skip the link offer
    # A Library app is shown students, the student included, as first name + last initial.
    first, last = person.name.split(" ", 1)
    assert identity(page) == (f"{first} {last[0]}" if person.is_library else person.name)
    cards = page.get_by_test_id("class-card")
    assert cards.count() == len(seed.section_ids_for(person.user_id))
    # Every class names its teachers; Mateo has a different teacher in each of his four.
    # Issue 14: a co-taught class reads "Primary: …" and "Co-teacher: …" on two lines.
    for card in cards.all():
        lines = card.locator(".class-teachers").all_inner_texts()
        assert lines, card.inner_text()
        assert all(line.startswith(("Teacher:", "Primary:", "Co-teacher")) for line in lines)
    assert_no_horizontal_scroll(page, "student dashboard")
    if device:
        assert_fits(page, page.get_by_test_id("identity-name"), "identity banner")
    elif persona == "mateo":
        screenshot(page, "student-dashboard")

    first = cards.first.get_by_role("link")
    class_name = first.inner_text()
    first.click()
    page.wait_for_url(CLASS_PAGE)
    assert page.get_by_role("heading", level=1).inner_text() == class_name
    assert page.get_by_test_id("teachers").get_by_role("listitem").count() >= 1
    assert page.get_by_test_id("roster").count() == 0  # students never see classmates
    assert_no_horizontal_scroll(page, "class page")

    log_out(page)
    assert page.get_by_role("heading", level=1).inner_text() == "You are logged out of Roster Room"
    page.goto("/dashboard")
    assert page.url.endswith("/login")


def test_teacher_portal_launch_dashboard_class_page_logout(page, sandbox, screenshot):
    portal_launch(page, sandbox, "Ana")
    continue_as_new_teacher(page)

    page.wait_for_url(DASHBOARD)
    assert identity(page) == "Ana Núñez"
    cards = page.get_by_test_id("class-card")
    assert cards.count() == 13
    big = cards.filter(has_text="Grade 4 Math - Núñez - 2")
    assert "135 students" in big.inner_text()
    assert "Co-teacher: Devon O'Hara" in big.inner_text()
    assert "Rosters are imported automatically from Clever" in page.content()
    assert page.get_by_test_id("last-synced").locator("time").count() == 1
    screenshot(page, "teacher-dashboard")

    big.get_by_role("link").click()
    page.wait_for_url(CLASS_PAGE)
    assert page.get_by_role("heading", level=1).inner_text() == "Grade 4 Math - Núñez - 2"
    teachers = page.get_by_test_id("teachers").get_by_role("listitem")
    assert teachers.count() == 2
    assert teachers.first.get_by_test_id("primary-teacher").inner_text() == "Primary"
    rows = page.get_by_test_id("roster").locator("tbody tr")
    assert rows.count() == 135
    names = rows.locator("td.person-name").all_inner_texts()
    # Reading order (UCA): accented last names sit with their base letter.
    initials = [base_letter(name) for name in names]
    assert initials == sorted(initials)
    screenshot(page, "class-page")

    log_out(page)


# -- a failed login ------------------------------------------------------------------------------


@pytest.mark.parametrize("device", [None, "iphone"], ids=["desktop", "iphone"])
def test_login_failure_shows_a_friendly_page_then_try_again_works(
    new_context, sandbox, screenshot, device
):
    page = new_context(device).new_page()
    fault = sandbox.add_fault(path="/oauth/tokens", status=500)
    log_in_with_our_button(page, "Mateo")

    error = page.get_by_test_id("login-error")
    error.wait_for()
    assert page.get_by_role("heading", level=1).is_visible()
    assert re.fullmatch(r"[0-9A-F]{8}", page.get_by_test_id("error-reference").inner_text())
    assert page.get_by_test_id("identity-name").count() == 0
    assert_no_horizontal_scroll(page, "error page")
    if device is None:
        screenshot(page, "error-page")

    sandbox.clear_faults()
    del fault
    page.get_by_role("link", name="Try again").click()
    page.wait_for_url(DASHBOARD)  # still signed in to Clever: straight back in
    assert identity(page) == "Mateo Ramírez"


# -- our button, shared devices, logout, the demo, no JavaScript -----------------------------


def test_our_button_leads_to_the_dashboard(page, screenshot):
    page.goto("/")
    assert page.get_by_role("heading", level=1).is_visible()
    screenshot(page, "landing")
    button = page.get_by_test_id("clever-login").first
    assert button.inner_text().strip() == "Log in with Clever"
    background = button.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background == "rgb(20, 100, 255)"  # Clever blue, drawn by us

    button.click()
    pick_persona(page, "Zoë")
    continue_as_new_teacher(page)
    page.wait_for_url(DASHBOARD)
    assert identity(page) == "Zoë Brontë"
    # Zero classes: the page says why, and what will make them appear.
    empty = page.get_by_test_id("empty-state")
    assert "No classes yet" in empty.inner_text()
    assert "Sync now" in empty.inner_text()
    assert page.get_by_role("button", name="Sync now").is_visible()


def test_a_student_launch_replaces_the_teacher_logged_in_on_this_browser(new_context, sandbox):
    context = new_context()
    page = context.new_page()
    log_in_with_our_button(page, "Ana")
    continue_as_new_teacher(page)
    page.wait_for_url(DASHBOARD)
    assert identity(page) == "Ana Núñez"
    teacher_cookie = next(c for c in context.cookies() if c["name"] == "session")

    # The teacher walks away; a student signs out of Clever and launches from their Portal.
    page.goto(f"{sandbox.url}/logout")
    portal_launch(page, sandbox, "Mateo")
    page.wait_for_url(DASHBOARD)
    assert identity(page) == "Mateo Ramírez"
    assert "Ana" not in page.get_by_role("banner").inner_text()
    student_cookie = next(c for c in context.cookies() if c["name"] == "session")
    assert student_cookie["value"] != teacher_cookie["value"]

    # The teacher's session is dead on the server, not just forgotten by this browser.
    other = new_context()
    other.add_cookies([teacher_cookie])
    stale = other.new_page()
    stale.goto("/dashboard")
    assert stale.url.endswith("/login")
    assert stale.get_by_test_id("identity-name").count() == 0


def test_logout_lands_on_the_logged_out_page(page):
    log_in_with_our_button(page, "Mateo")
    page.wait_for_url(DASHBOARD)
    log_out(page)
    assert page.get_by_role("heading", level=1).inner_text() == "You are logged out of Roster Room"
    assert "You may still be signed in to Clever" in page.get_by_test_id("logged-out").inner_text()
    assert page.get_by_role("link", name="Log in with Clever").is_visible()
    assert page.get_by_test_id("identity-name").count() == 0
    # Back does not bring the dashboard back (no-store, and the session is gone).
    page.go_back()
    page.wait_for_load_state()
    assert page.get_by_test_id("identity-name").count() == 0


def test_the_free_demo_needs_no_clever_account(page, sandbox):
    page.goto("/")
    page.get_by_test_id("try-demo").click()
    page.wait_for_url(re.compile(r"/demo$"))
    note = page.get_by_test_id("demo-note").inner_text()
    assert "This demo uses a simulated Clever (no Clever account needed)" in note
    assert page.get_by_role("link", name="Open the Clever Portal").get_attribute("href") == (
        f"{sandbox.url}/portal"
    )
    assert page.get_by_role("link", name="Open the Clever Library").get_attribute("href") == (
        f"{sandbox.url}/library"
    )
    page.get_by_role("link", name="Pick a persona").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Log in to Clever")
    pick_persona(page, "Mateo")
    page.wait_for_url(DASHBOARD)
    assert identity(page) == "Mateo Ramírez"


def test_everything_but_the_live_progress_works_without_javascript(new_context, sandbox):
    page = new_context(java_script_enabled=False).new_page()
    log_in_with_our_button(page, "Devon")
    continue_as_new_teacher(page)
    page.wait_for_url(DASHBOARD)
    assert identity(page) == "Devon O'Hara"
    page.get_by_test_id("class-card").first.get_by_role("link").click()
    page.wait_for_url(CLASS_PAGE)
    assert page.get_by_test_id("roster").locator("tbody tr").count() > 0
    page.goto("/dashboard")
    # Sync now is a plain form post; the page refreshes itself until the sync is done.
    page.get_by_role("button", name="Sync now").click()
    page.wait_for_url(DASHBOARD)
    page.get_by_test_id("sync-result").wait_for(timeout=30_000)
    log_out(page)


# -- both worlds: a Library teacher, then her district connects the app ---------------------------


def test_a_library_teacher_becomes_a_district_login_and_keeps_her_classes(page, sandbox):
    """Install from the Clever Library (a Library login: students as first name + last
    initial); the district connects Roster Room on the simulated Clever's home page; her next
    login is a district login with the same account and classes, now with courses and terms."""
    page.goto(f"{sandbox.url}/library")
    pick_persona(page, "Hana")
    page.get_by_role("button", name="Install Roster Room").click()
    page.get_by_role("button", name="Allow").click()
    continue_as_new_teacher(page)
    page.wait_for_url(re.compile(r"/onboarding$"))  # a Library login names no school
    page.get_by_label("Your school's name").fill("Lakeview Middle")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(DASHBOARD)
    assert page.get_by_test_id("class-card").count() == 3
    page.get_by_role("link", name="7th Grade Life Science - Kobayashi - 1").click()
    page.wait_for_url(CLASS_PAGE)
    names = page.get_by_test_id("roster").locator("td.person-name").all_inner_texts()
    # Library students read as first name and last initial: "Zainab A."
    assert len(names) == 20 and all(re.fullmatch(r".+ \S\.", n) for n in names), names[:3]
    assert "Course:" not in page.get_by_role("main").inner_text()
    class_url = page.url

    page.goto(f"{sandbox.url}/")
    lakeview = page.locator("li", has_text="Lakeview Public Schools")
    lakeview.get_by_role("button", name="Connect with rosters").click()
    page.wait_for_load_state()
    assert "sharing rosters" in lakeview.inner_text()

    page.goto("/dashboard")
    log_out(page)
    page.get_by_role("link", name="Log in with Clever").first.click()  # still signed in
    page.wait_for_url(DASHBOARD)
    assert identity(page) == "Hana Kobayashi"
    assert page.get_by_test_id("class-card").count() == 3
    page.goto(class_url)  # the same class, the same page
    main = page.get_by_role("main").inner_text()
    assert "Course: Life Science 7" in main and "Lakeview Middle School" in main
    names = page.get_by_test_id("roster").locator("td.person-name").all_inner_texts()
    assert "Okonkwo, Amara" in names
