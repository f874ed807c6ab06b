"""A held class among other changes (issue 14), in every engine: Chromium on a desktop and an
iPhone 13, Firefox ESR and WebKit. One sync where Independent Study would lose four of its six
students while Coding Café is renamed and Homeroom 4B left Clever: the rename and the removal
show, Independent Study keeps its roster and says so on its card and page; "Keep my classes as
they are", then a new login, does not ask again; a further shrink asks again and "Apply the
changes" applies it. The roster changes come through the sandbox's control API, as in
tests/test_sync_views.py."""

from __future__ import annotations

import time

import pytest
from sync_helpers import HOMEROOM_ID, SEED, STUDY_ID, remove_four_of_six, seed_section

from clever.sandbox import seed

pytestmark = pytest.mark.browser

CODING_ID = seed_section("Coding Café")
STUDY = SEED.sections[STUDY_ID]["name"]
HOMEROOM = SEED.sections[HOMEROOM_ID]["name"]
RENAMED = "Coding Café (renamed)"
WAITING = "1 class waiting for your review"


def log_in_as_ana(browser, *, first_time: bool = False) -> None:
    """Our "Log in with Clever" button; the sandbox remembers Ana after the first time."""
    browser.open("/")
    browser.click_link("Log in with Clever")
    if first_time:
        browser.click_button("Log in as Ana")
        browser.wait_for_path(r"/account/link$")
        browser.click_button("No, I'm new here")
    browser.wait_for_path(r"/dashboard$")


def log_out(browser) -> None:
    browser.click_button("Log out")
    browser.wait_for_path(r"/logged-out$")


def card_of(browser, class_name: str) -> str:
    (card,) = [c for c in browser.texts("[data-testid=class-card]") if c.startswith(class_name)]
    return card


def open_class(browser, class_name: str) -> int:
    """Open a class page from its card on the dashboard; returns the roster's row count."""
    browser.click_link(class_name)
    browser.wait_for_path(r"/classes/\d+$")
    assert browser.text_of("h1") == class_name
    return len(browser.texts("[data-testid=roster] tbody tr"))


def review_held(browser) -> None:
    """From the held class's page, open the review: it lists only that class."""
    browser.click_link("Review the change")
    browser.wait_for_path(r"/sync/held/\d+$")
    rows = browser.texts("[data-testid=held-changes] tbody tr")
    assert len(rows) == 1 and rows[0].startswith(STUDY), rows


def test_a_held_class_with_a_rename_and_a_removal_then_keep_then_apply(
    any_browser, sandbox, screenshot
):
    browser = any_browser
    log_in_as_ana(browser, first_time=True)
    assert HOMEROOM in browser.page_text()
    assert "waiting for your review" not in browser.page_text()

    removed = remove_four_of_six(sandbox)
    sandbox.mutate("rename_section", section_id=CODING_ID, name=RENAMED)
    sandbox.mutate("remove_section", section_id=HOMEROOM_ID)
    log_out(browser)
    log_in_as_ana(browser)  # the login's sync meets all three changes

    text = browser.page_text()
    assert RENAMED in text and HOMEROOM not in text, "the rename and the removal were applied"
    assert WAITING in text
    assert len(browser.texts("[data-testid=class-held]")) == 1
    study_card = card_of(browser, STUDY)
    assert "would remove 4 of this class's 6 students" in study_card
    assert open_class(browser, STUDY) == 6, "the held class keeps its roster"
    assert "would remove 4" in browser.text_of("[data-testid=class-held]")
    if getattr(browser, "page", None) and browser.device is None:
        screenshot(browser.page, "held-class")

    # Keep: the class says so, and a new login does not ask again.
    review_held(browser)
    browser.click_button("Keep my classes as they are")
    browser.wait_for_path(r"/dashboard$")
    assert WAITING not in browser.page_text()
    assert "You chose to keep this roster" in card_of(browser, STUDY)
    log_out(browser)
    log_in_as_ana(browser)
    assert WAITING not in browser.page_text() and not browser.texts("[data-testid=class-held]")
    assert open_class(browser, STUDY) == 6

    # A further shrink asks again; Apply applies it (in the background: the page follows it).
    fifth = next(s for s in seed.student_ids_in(STUDY_ID) if s not in removed)
    sandbox.mutate("remove_student", section_id=STUDY_ID, user_id=fifth)
    log_out(browser)
    log_in_as_ana(browser)
    assert WAITING in browser.page_text()
    assert "would remove 5 of this class's 6 students" in card_of(browser, STUDY)
    open_class(browser, STUDY)
    review_held(browser)
    browser.click_button("Apply the changes")
    browser.wait_for_path(r"/dashboard$")
    deadline = time.monotonic() + 30
    while "Applying" in browser.page_text() or "1 student" not in card_of(browser, STUDY):
        assert time.monotonic() < deadline, card_of(browser, STUDY)
        time.sleep(0.5)
        browser.open("/dashboard")
    assert WAITING not in browser.page_text() and not browser.texts("[data-testid=class-held]")
    assert open_class(browser, STUDY) == 1
