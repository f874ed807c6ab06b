"""The sandbox's pages in a real browser (Chromium): the picker flow works and axe finds nothing
serious on any page."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from e2e.axe import axe_playwright, format_violations, serious_or_critical
from e2e.browsers import need, playwright_chromium
from sandbox_server import SandboxServer
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from clever.config import DEMO_CLIENT_ID
from clever.sandbox import seed

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium():
    need("chromium")
    with playwright_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def app_stub():
    """Stands in for the app at its redirect URI and records every URL it was sent to."""
    landed: list[str] = []

    @Request.application
    def app(request):
        if request.path == "/auth/clever/callback":  # not the browser's /favicon.ico
            landed.append(request.url)
        return Response("<!doctype html><title>app</title><h1>app</h1>", mimetype="text/html")

    stub = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=stub.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{stub.server_port}/auth/clever/callback", landed
    stub.shutdown()
    stub.server_close()


@pytest.fixture(scope="module")
def server(app_stub):
    with SandboxServer(redirect_uris=[app_stub[0]]) as sandbox:
        yield sandbox


@pytest.fixture
def landed(app_stub) -> list[str]:
    app_stub[1].clear()
    return app_stub[1]


@pytest.fixture
def page(chromium, server, landed):
    server.reset()
    context = chromium.new_context()
    yield context.new_page()
    context.close()


def assert_accessible(page):
    bad = serious_or_critical(axe_playwright(page))
    assert not bad, f"{page.url}\n{format_violations(bad)}"


def test_picker_then_app_then_silent_reauthorize(page, server, landed):
    query = urlencode(
        {
            "response_type": "code",
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": server.primary_redirect_uri,
            "state": "s-1",
        }
    )
    page.goto(f"{server.url}/oauth/authorize?{query}")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Log in to Clever")
    assert_accessible(page)
    page.get_by_role("button", name="Log in as Ana").click()
    page.wait_for_url(server.primary_redirect_uri + "**")
    first = parse_qs(urlsplit(landed[-1]).query)
    assert first["state"] == ["s-1"] and first["code"]
    # Signed in to the sandbox now: a second authorize comes straight back.
    page.goto(f"{server.url}/oauth/authorize?{query.replace('s-1', 's-2')}")
    second = parse_qs(urlsplit(landed[-1]).query)
    assert second["state"] == ["s-2"] and second["code"] != first["code"]


def test_every_page_is_accessible(page, server, landed):
    page.goto(f"{server.url}/")
    assert_accessible(page)
    page.goto(f"{server.url}/portal")  # not signed in: the picker, then back to the portal
    assert_accessible(page)
    page.get_by_role("button", name="Log in as Hana").click()
    page.wait_for_url(f"{server.url}/portal")
    assert_accessible(page)
    page.goto(f"{server.url}/library")
    assert_accessible(page)
    page.get_by_role("button", name="Install Roster Room").click()
    assert (
        page.get_by_role("heading", level=1).inner_text() == "Share your classes with Roster Room?"
    )
    assert_accessible(page)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(server.primary_redirect_uri + "**")
    assert set(parse_qs(urlsplit(landed[-1]).query)) == {"code"}
    page.goto(f"{server.url}/oauth/authorize?client_id=nope")
    assert_accessible(page)
    page.goto(f"{server.url}/logout")
    assert_accessible(page)
    assert seed.PERSONAS["library"].name == "Hana Kobayashi"


def test_the_home_page_connects_and_disconnects_districts(page, server):
    from clever.sandbox import seed

    page.goto(server.url + "/")
    status = page.locator(f'[data-district-status="{seed.LIBRARY_DISTRICT_ID}"]')
    assert status.inner_text().startswith("not connected")
    assert_accessible(page)
    lakeview = page.locator("li", has_text="Lakeview Public Schools")
    for button, expected in (
        ("Connect with rosters", "connected at district level, sharing rosters"),
        ("Connect for sign-in only", "connected at district level for sign-in only"),
        ("Disconnect", "not connected"),
    ):
        lakeview.get_by_role("button", name=button).click()
        page.wait_for_load_state()
        assert status.inner_text().startswith(expected), button
    assert set(server.district_tokens()) == {seed.DISTRICT_ID}
