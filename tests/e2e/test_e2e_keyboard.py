"""The whole login → dashboard → logout path with the keyboard alone (Tab and Enter), in
Chromium: landing → "Log in with Clever" → the sandbox's persona picker → dashboard → a class →
Log out. Every stop must show where the focus is."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

MAX_TABS = 120

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {
    text: (el.innerText || el.value || el.getAttribute('aria-label') || '')
      .trim().replace(/\\s+/g, ' '),
    tag: el.tagName.toLowerCase(),
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
  };
}"""


def tab_to(page, text: str) -> dict:
    """Press Tab until the focused element reads ``text``; it must show a focus ring."""
    seen = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        seen.append(focused["text"])
        if focused["text"] == text:
            assert focused["outline"], f"{text!r} is focused but shows no focus outline"
            return focused
    raise AssertionError(f"Tab never reached {text!r} on {page.url}; went through {seen}")


def press_enter_on(page, text: str, url: re.Pattern | str) -> None:
    tab_to(page, text)
    page.keyboard.press("Enter")
    page.wait_for_url(url)


def test_student_logs_in_and_out_with_the_keyboard_alone(page):
    page.goto("/")
    page.keyboard.press("Tab")
    first = page.evaluate(FOCUSED)
    assert first["text"] == "Skip to content", "the first Tab stop should skip the header"

    press_enter_on(page, "Log in with Clever", re.compile(r"/oauth/authorize"))
    assert page.get_by_role("heading", level=1).inner_text().startswith("Log in to Clever")
    press_enter_on(page, "Log in as Mateo", re.compile(r"/dashboard$"))
    assert page.get_by_test_id("identity-name").inner_text() == "Mateo Ramírez"

    press_enter_on(page, "Log out", re.compile(r"/logged-out$"))
    assert page.get_by_role("heading", level=1).inner_text() == "You are logged out of Roster Room"


def test_teacher_first_login_and_a_class_with_the_keyboard_alone(page):
    page.goto("/")
    press_enter_on(page, "Log in with Clever", re.compile(r"/oauth/authorize"))
    press_enter_on(page, "Log in as Devon", re.compile(r"/account/link$"))
    press_enter_on(page, "No, I'm new here", re.compile(r"/dashboard$"))
    assert page.get_by_test_id("identity-name").inner_text() == "Devon O'Hara"

    first_class = page.get_by_test_id("class-card").first.get_by_role("link").inner_text()
    press_enter_on(page, first_class, re.compile(r"/classes/\d+$"))
    assert page.get_by_role("heading", level=1).inner_text() == first_class
    press_enter_on(page, "Log out", re.compile(r"/logged-out$"))
