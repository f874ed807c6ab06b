"""A teacher's day, polished (issue 14), in Chromium on a desktop and an iPhone: switching
person in the demo, a roster you can filter and sort, its CSV, Library names, local times,
and a phone dashboard whose sync panel and class choice are reachable from the top."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flows import base_letter

from .test_e2e_chromium import (
    CLASS_PAGE,
    DASHBOARD,
    continue_as_new_teacher,
    identity,
    log_in_with_our_button,
    pick_persona,
)

pytestmark = pytest.mark.browser

DEVICES = pytest.mark.parametrize("device", [None, "iphone"], ids=["desktop", "iphone"])
PICKER = re.compile(r"/oauth/authorize\?")


def open_big_class(page, device) -> None:
    log_in_with_our_button(page, "Ana")
    continue_as_new_teacher(page)
    page.wait_for_url(DASHBOARD)
    page.get_by_test_id("class-card").filter(has_text="Grade 4 Math - Núñez - 2").get_by_role(
        "link"
    ).click()
    page.wait_for_url(CLASS_PAGE)


@DEVICES
def test_switch_person_from_the_dashboard_demo_and_logged_out_pages(
    new_context, screenshot, device
):
    page = new_context(device).new_page()
    page.goto("/demo")
    page.get_by_role("link", name="Pick a persona").click()
    pick_persona(page, "Mateo")
    page.wait_for_url(DASHBOARD)
    assert identity(page) == "Mateo Ramírez"
    # "Pick a persona" alone goes straight back in as Mateo: the simulated Clever remembers him.
    page.goto("/demo")
    page.get_by_role("link", name="Pick a persona").click()
    page.wait_for_url(DASHBOARD)
    assert identity(page) == "Mateo Ramírez"

    page.get_by_test_id("demo-bar").get_by_role("button", name="Switch person").click()
    page.wait_for_url(PICKER)
    pick_persona(page, "Ana")
    continue_as_new_teacher(page)
    page.wait_for_url(DASHBOARD)
    assert identity(page) == "Ana Núñez"

    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url(re.compile(r"/logged-out$"))
    page.get_by_role("button", name="Switch person").click()
    page.wait_for_url(PICKER)
    pick_persona(page, "Zoë")
    continue_as_new_teacher(page)
    page.wait_for_url(DASHBOARD)
    assert identity(page) == "Zoë Brontë"

    page.goto("/demo")
    if device is None:
        screenshot(page, "demo-switch")
    page.get_by_test_id("demo-switch").get_by_role("button", name="Switch person").click()
    page.wait_for_url(PICKER)
    assert page.get_by_role("button", name="Log in as Mateo", exact=True).is_visible()


@DEVICES
def test_the_roster_filters_as_you_type_and_sorts_by_grade(new_context, device):
    page = new_context(device).new_page()
    open_big_class(page, device)
    rows = page.get_by_test_id("roster").locator("tbody tr")
    assert rows.count() == 135
    names = rows.locator("td.person-name").all_inner_texts()
    assert [base_letter(n) for n in names] == sorted(base_letter(n) for n in names)

    box = page.get_by_label("Find a student")
    target = next(name for name in names if re.search(r"[áéíóúñ]", name.split(",")[0]))
    # Typed without accents still finds it: "adebay" finds "Adébáyọ̀".
    last = unicodedata.normalize("NFD", target.split(",")[0])
    plain = "".join(c for c in last if not unicodedata.combining(c)).lower()
    box.press_sequentially(plain[:6])
    visible = page.locator("[data-testid=roster] tbody tr:visible")
    assert target in visible.locator("td.person-name").all_inner_texts()
    assert 0 < visible.count() < 135
    assert re.fullmatch(r"\d+ of 135 shown", page.locator("[data-roster-count]").inner_text())
    box.fill("zzzz")
    assert visible.count() == 0
    assert "No student matches" in page.locator("[data-roster-count]").inner_text()
    box.fill("")
    assert visible.count() == 135

    # The header stays in view while the roster scrolls.
    scroller = page.locator(".roster-scroll")
    scroller.evaluate("element => element.scrollTop = element.scrollHeight")
    header = page.locator("table.roster thead th").nth(1).bounding_box()
    region = scroller.bounding_box()
    assert abs(header["y"] - region["y"]) < 4, (header, region)

    page.get_by_test_id("roster-sort").get_by_role("link", name="grade").click()
    page.wait_for_url(re.compile(r"\?sort=grade$"))
    assert page.get_by_test_id("roster-sort").locator("[aria-current]").inner_text() == "grade"
    assert rows.count() == 135


@DEVICES
def test_a_teacher_downloads_the_class_as_csv(new_context, device):
    page = new_context(device, accept_downloads=True).new_page()
    open_big_class(page, device)
    with page.expect_download() as info:
        page.get_by_test_id("export-csv").click()
    download = info.value
    assert download.suggested_filename == "Grade-4-Math-Nunez-2-roster.csv"
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Last name", "First name", "Grade"] and len(rows) == 136
    shown = page.get_by_test_id("roster").locator("td.person-name").all_inner_texts()
    assert [f"{last}, {first}" for last, first, _ in rows[1:]] == shown


@DEVICES
def test_library_students_read_as_first_name_and_last_initial(new_context, device):
    page = new_context(device).new_page()
    log_in_with_our_button(page, "Hana")
    continue_as_new_teacher(page)
    page.wait_for_url(re.compile(r"/onboarding$"))
    page.get_by_label("Your school's name").fill("Birch Middle School")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(DASHBOARD)
    page.get_by_test_id("class-card").first.get_by_role("link").click()
    page.wait_for_url(CLASS_PAGE)
    names = page.get_by_test_id("roster").locator("td.person-name").all_inner_texts()
    assert names and all(re.fullmatch(r"\S.* \w\.", name) for name in names), names
    teachers = page.get_by_test_id("teachers").inner_text()
    assert "Hana Kobayashi" in teachers and "Primary" in teachers


@DEVICES
def test_times_show_in_the_browsers_time_zone(new_context, device):
    zone = "America/New_York"
    page = new_context(device, timezone_id=zone, locale="en-US").new_page()
    log_in_with_our_button(page, "Zoë")
    continue_as_new_teacher(page)
    page.wait_for_url(DASHBOARD)
    moment = page.get_by_test_id("last-synced").locator("time")
    moment.and_(page.locator("[data-local]")).wait_for()
    stamp = moment.get_attribute("datetime")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)  # UTC, to the second
    local = datetime.fromisoformat(stamp).astimezone(ZoneInfo(zone))
    text = moment.inner_text()
    assert f"{local:%I:%M}" in text and re.search(r"E[SD]T", text) and "UTC" not in text
    assert moment.get_attribute("title").endswith("UTC")  # the server's UTC text, on hover


def test_without_javascript_times_read_in_utc(new_context):
    page = new_context(java_script_enabled=False).new_page()
    log_in_with_our_button(page, "Zoë")
    continue_as_new_teacher(page)
    page.wait_for_url(DASHBOARD)
    assert page.get_by_test_id("last-synced").locator("time").inner_text().endswith(" UTC")


def test_on_a_phone_sync_and_class_choice_are_near_the_top(new_context):
    page = new_context("iphone").new_page()
    log_in_with_our_button(page, "Ana")
    continue_as_new_teacher(page)
    page.wait_for_url(DASHBOARD)
    jump = page.get_by_test_id("jump-links")
    assert jump.is_visible() and jump.bounding_box()["y"] < 700
    jump.get_by_role("link", name="Choose your classes").click()
    page.wait_for_url(re.compile(r"#class-selection-title$"))
    heading = page.get_by_role("heading", name="Choose your classes")
    assert heading.bounding_box()["y"] < page.viewport_size["height"]
    # Class names and periods wrap between words, never inside one ("Perio d 5").
    split_words = page.evaluate(
        """() => {
          const broken = [];
          for (const label of document.querySelectorAll(".class-selection .check")) {
            const walker = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
              for (const match of node.data.matchAll(/\\S+/g)) {
                const range = document.createRange();
                range.setStart(node, match.index);
                range.setEnd(node, match.index + match[0].length);
                if (range.getClientRects().length > 1) broken.push(match[0]);
              }
            }
          }
          return broken;
        }"""
    )
    assert split_words == []
    desktop = new_context().new_page()
    log_in_with_our_button(desktop, "Ana")  # on a desktop the panel sits beside the classes
    desktop.wait_for_url(DASHBOARD)
    assert not desktop.get_by_test_id("jump-links").is_visible()
