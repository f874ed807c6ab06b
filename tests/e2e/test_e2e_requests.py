"""Every request the browser makes during a whole teacher session and a whole student session
goes to the app's own origin or the Clever sandbox's: no CDN, web font, analytics or other
third party, on any page (the live sync progress included)."""

from __future__ import annotations

import re

import pytest

from .browsers import RequestRecorder, origin_of

pytestmark = pytest.mark.browser

DASHBOARD = re.compile(r"/dashboard$")


def assert_first_party(recorder: RequestRecorder, live_url: str, sandbox_url: str) -> None:
    recorder.assert_only(live_url, sandbox_url)
    # Not vacuous: both origins were really used, the app's own assets included.
    assert recorder.origins == {origin_of(live_url), origin_of(sandbox_url)}, recorder.urls
    assets = {url.split("?")[0].removeprefix(live_url) for url in recorder.urls}
    assert {"/static/app.css", "/static/favicon.svg"} <= assets, sorted(assets)


def test_a_teacher_session_stays_first_party(new_context, live_url, sandbox):
    context = new_context()
    recorder = RequestRecorder().attach(context)
    page = context.new_page()
    page.goto("/")
    page.goto("/login")
    page.goto("/demo")
    page.get_by_role("link", name="Pick a persona").click()
    page.get_by_role("button", name="Log in as Ana", exact=True).click()
    page.get_by_role("button", name="No, I'm new here").click()
    page.wait_for_url(DASHBOARD)

    # Sync now with JavaScript on: the live progress polls /sync/status, then reloads.
    with page.expect_navigation(url=DASHBOARD, timeout=30_000):
        page.get_by_role("button", name="Sync now").click()
    assert any(url.endswith("/sync/status") for url in recorder.urls)

    page.get_by_test_id("class-card").first.get_by_role("link").click()
    page.get_by_test_id("roster").wait_for()
    page.goto("/sync/history")
    page.goto("/dashboard")
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url(re.compile(r"/logged-out$"))

    assert_first_party(recorder, live_url, sandbox.url)
    assert f"{live_url}/static/sync.js" in recorder.urls
    assert f"{live_url}/static/hero.svg" in recorder.urls


def test_a_student_session_stays_first_party(new_context, live_url, sandbox):
    context = new_context("iphone")
    recorder = RequestRecorder().attach(context)
    page = context.new_page()
    page.goto(f"{sandbox.url}/portal")
    page.get_by_role("button", name="Log in as Mateo", exact=True).click()
    page.get_by_role("link", name="Roster Room").click()
    page.wait_for_url(DASHBOARD)
    page.get_by_test_id("class-card").first.get_by_role("link").click()
    page.get_by_test_id("teachers").wait_for()
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url(re.compile(r"/logged-out$"))
    page.goto("/no-such-page")  # the error page too

    assert_first_party(recorder, live_url, sandbox.url)
