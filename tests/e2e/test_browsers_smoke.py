"""Smoke tests for the browser infrastructure: every engine really loads, navigates and runs axe.

A tiny static site is served from a local ``http.server``; each browser loads it, follows a link,
reads the second page's heading and runs axe-core on both pages. The server records the requests
it answered, so a browser that never loaded the pages fails instead of passing vacuously.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from . import browsers
from .axe import axe_playwright, axe_selenium, format_violations, serious_or_critical
from .browsers import (
    BrowserStartError,
    RequestRecorder,
    RestartingDriver,
    device_descriptor,
    firefox_driver,
    need,
    new_chromium_context,
    origin_of,
    playwright_chromium,
    webkit_driver,
)

START_TITLE = "Smoke test: start"
SECOND_TITLE = "Smoke test: second page"
SECOND_HEADING = "Second page reached"

PAGES = {
    "/": f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{START_TITLE}</title></head>
<body>
<header><nav aria-label="Main"><a id="next" href="/second.html">Go to the second page</a></nav>
</header>
<main>
  <h1>Start page</h1>
  <form action="/second.html" method="get">
    <label for="name">Your name</label>
    <input id="name" name="name" type="text" autocomplete="name">
    <button type="submit">Send</button>
  </form>
</main>
</body>
</html>
""",
    "/second.html": f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{SECOND_TITLE}</title></head>
<body>
<main>
  <h1>{SECOND_HEADING}</h1>
  <p>You followed the link.</p>
  <p><a href="/">Back to the start page</a></p>
</main>
</body>
</html>
""",
}


@dataclass
class StaticSite:
    base_url: str
    hits: list[str] = field(default_factory=list)

    def assert_served(self, *paths: str) -> None:
        missing = [p for p in paths if p not in self.hits]
        assert not missing, f"server never served {missing}; it served {self.hits}"


@pytest.fixture(scope="module")
def _static_server() -> Iterator[StaticSite]:
    site = StaticSite(base_url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            site.hits.append(path)
            body = PAGES.get(path)
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="smoke-http", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def site(_static_server: StaticSite) -> StaticSite:
    _static_server.hits.clear()
    return _static_server


def assert_accessible(violations: list[dict], where: str) -> None:
    bad = serious_or_critical(violations)
    assert not bad, f"{where}: {format_violations(bad)}"


# ---------------------------------------------------------------------------------------------
# Chromium (Playwright)


@pytest.mark.browser
@pytest.mark.parametrize("device", [None, "iphone", "pixel"], ids=["desktop", "iphone", "pixel"])
def test_chromium(site: StaticSite, device: str | None) -> None:
    need("chromium")
    with playwright_chromium() as browser:
        context = new_chromium_context(browser, device)
        recorder = RequestRecorder().attach(context)
        page = context.new_page()
        page.set_default_timeout(15_000)

        response = page.goto(site.base_url + "/")
        assert response is not None and response.status == 200
        assert page.title() == START_TITLE
        assert_accessible(axe_playwright(page), "start page")

        page.click("#next")
        page.wait_for_url("**/second.html")
        assert page.title() == SECOND_TITLE
        assert page.locator("h1").inner_text() == SECOND_HEADING
        assert_accessible(axe_playwright(page), "second page")

        if device is not None:
            expected = device_descriptor(device)
            width = page.evaluate("() => window.innerWidth")
            assert width == expected["viewport"]["width"]
            assert page.evaluate("() => navigator.maxTouchPoints") > 0
            assert page.evaluate("() => navigator.userAgent") == expected["user_agent"]

        site.assert_served("/", "/second.html")
        recorder.assert_only(site.base_url)
        assert f"{site.base_url}/second.html" in recorder.urls
        context.close()


# ---------------------------------------------------------------------------------------------
# Firefox ESR and WebKit (Selenium)


def _selenium_smoke(driver, site: StaticSite) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(site.base_url + "/")
    assert driver.title == START_TITLE
    assert_accessible(axe_selenium(driver), "start page")

    driver.find_element(By.ID, "next").click()
    WebDriverWait(driver, 15).until(lambda d: d.title == SECOND_TITLE)
    assert driver.current_url == f"{site.base_url}/second.html"
    assert driver.find_element(By.TAG_NAME, "h1").text == SECOND_HEADING
    assert_accessible(axe_selenium(driver), "second page")
    site.assert_served("/", "/second.html")


@pytest.mark.browser
def test_firefox(site: StaticSite) -> None:
    need("firefox")
    with firefox_driver() as driver:
        assert driver.capabilities["browserName"] == "firefox"
        _selenium_smoke(driver, site)


@pytest.mark.browser
def test_webkit(site: StaticSite) -> None:
    need("webkit")
    with webkit_driver() as driver:
        assert driver.capabilities["browserName"].lower() in {"minibrowser", "webkitgtk"}
        _selenium_smoke(driver, site)


@pytest.mark.browser
def test_webkit_started_again_after_its_web_process_died(site: StaticSite) -> None:
    """What CI met in stop 26: WebKit's web process crashed, and the session-scoped driver failed
    every later WebKit test. The next ``run`` starts a new browser; the dead one is cleaned up."""
    need("webkit")
    with contextlib.closing(RestartingDriver(webkit_driver)) as keeper:
        first = keeper.run(lambda driver: driver)
        first.get(site.base_url + "/")
        first_group = first.service.process.pid
        web_processes = [
            pid
            for pid in browsers._group_members(first_group)
            if b"WebKitWebProcess" in _cmdline(pid)
        ]
        assert web_processes, "no WebKitWebProcess in the driver's process group"
        for pid in web_processes:
            os.kill(pid, signal.SIGKILL)
        # The driver notices within a few commands; from then on it refuses every one, as in CI.
        _wait_until(lambda: _session_deleted(first))

        with pytest.warns(UserWarning, match="the browser had died"):
            second = keeper.run(lambda driver: driver.get(site.base_url + "/") or driver)

        assert second is not first
        assert keeper.restarts == 1
        assert browsers._group_members(first_group) == []
        _selenium_smoke(second, site)
        # A live browser is not restarted.
        assert keeper.run(lambda driver: driver) is second
        assert keeper.restarts == 1


def _session_deleted(driver) -> bool:
    from selenium.common.exceptions import InvalidSessionIdException, WebDriverException

    try:
        driver.title  # noqa: B018 (a command to the driver)
    except InvalidSessionIdException:
        return True
    except WebDriverException:
        pass
    return False


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.browser
def test_webkit_start_timeout_is_enforced() -> None:
    need("webkit")
    started = time.monotonic()
    with (
        pytest.raises(BrowserStartError, match="did not start within"),
        webkit_driver(start_timeout=0.05),
    ):
        pytest.fail("webkit_driver must not yield after its start timeout")
    assert time.monotonic() - started < 20


# ---------------------------------------------------------------------------------------------
# Pure helpers (no browser)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"CI": "true"}, True),
        ({"CI": "1"}, True),
        ({"CI": "0"}, False),
        ({"CI": "false"}, False),
        ({"CI": ""}, False),
        ({"REQUIRE_BROWSERS": "1"}, True),
        ({"CI": "false", "REQUIRE_BROWSERS": "1"}, True),
    ],
)
def test_browsers_required(monkeypatch: pytest.MonkeyPatch, env: dict, expected: bool) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("REQUIRE_BROWSERS", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert browsers.browsers_required() is expected


def test_need_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browsers, "browser_missing_reason", lambda name: "not here")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("REQUIRE_BROWSERS", raising=False)
    with pytest.raises(pytest.skip.Exception):
        browsers.need("webkit")
    monkeypatch.setenv("REQUIRE_BROWSERS", "1")
    with pytest.raises(pytest.fail.Exception, match="required"):
        browsers.need("webkit")


def test_request_recorder_flags_foreign_origins() -> None:
    recorder = RequestRecorder()
    for url in (
        "http://127.0.0.1:5000/",
        "http://127.0.0.1:5000/static/app.css",
        "data:image/png;base64,AAAA",
        "https://cdn.example.com/lib.js",
        "http://127.0.0.1:5001/other-port",
    ):
        recorder._on_request(SimpleNamespace(url=url))
    assert recorder.foreign(["http://127.0.0.1:5000/login"]) == [
        "https://cdn.example.com/lib.js",
        "http://127.0.0.1:5001/other-port",
    ]
    assert origin_of("HTTPS://Example.COM:443/x") == "https://example.com"
    with pytest.raises(AssertionError, match=r"cdn\.example\.com"):
        recorder.assert_only("http://127.0.0.1:5000")


def test_format_violations_is_readable() -> None:
    violations = [
        {
            "id": "label",
            "impact": "critical",
            "help": "Form elements must have labels",
            "nodes": [{"target": [f"#i{n}"]} for n in range(5)],
        },
        {"id": "region", "impact": "moderate", "help": "Content in landmarks", "nodes": []},
    ]
    assert [v["id"] for v in serious_or_critical(violations)] == ["label"]
    text = format_violations(violations)
    assert "[critical] label: Form elements must have labels (5 node(s))" in text
    assert '["#i0"], ["#i1"], ["#i2"] (+2 more)' in text
    assert format_violations([]) == "no accessibility violations"
