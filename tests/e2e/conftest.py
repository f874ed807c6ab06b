"""Fixtures for the browser tests: the app on a real port (``live_url``) talking to the Clever
sandbox over real HTTP, driven by real browsers.

- Chromium (Playwright) is started once per test module: Playwright's sync API allows one
  running instance per thread, and other modules start their own. Each test gets fresh
  contexts (cookies, storage) from ``new_context``.
- Firefox ESR and WebKit (Selenium) start once per test session: they are the slow ones, and
  one whose browser has died is started again before the next test. Each test starts with no
  cookies (app and sandbox share the host 127.0.0.1, so one ``delete_all_cookies`` clears both).

Screenshots for the README are written to docs/screenshots/ only with ``UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from .browsers import (
    RestartingDriver,
    firefox_driver,
    need,
    new_chromium_context,
    playwright_chromium,
    webkit_driver,
)

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCREENSHOT_VIEWPORT = {"width": 1024, "height": 720}
DEFAULT_TIMEOUT_MS = 20_000
# Firefox and WebKit run in a zone other than the machine's UTC, so local times are tested.
SELENIUM_TIME_ZONE = "America/New_York"


# -- Chromium (Playwright) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    need("chromium")
    with playwright_chromium() as browser:
        yield browser


@pytest.fixture
def new_context(chromium, live_url) -> Iterator[Callable]:
    """``new_context(device=None, **kwargs)``: a fresh browser context on the app's origin."""
    contexts = []

    def make(device: str | None = None, **kwargs):
        context = new_chromium_context(chromium, device, base_url=live_url, **kwargs)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context):
    return new_context().new_page()


@pytest.fixture
def screenshot() -> Callable:
    """``screenshot(page, "name")`` writes docs/screenshots/name.png when UPDATE_SCREENSHOTS=1."""

    def take(page, name: str) -> Path | None:
        if os.environ.get("UPDATE_SCREENSHOTS") != "1":
            return None
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}.png"
        page.set_viewport_size(SCREENSHOT_VIEWPORT)
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.screenshot(path=str(path), animations="disabled", caret="hide")
        return path

    return take


# -- Firefox and WebKit (Selenium) -------------------------------------------------------------


class SeleniumBrowser:
    """A Selenium driver with the few moves the e2e tests make, waiting like a person would."""

    def __init__(self, driver, app_url: str, sandbox_url: str, timeout: float = 20.0) -> None:
        self.driver = driver
        self.app_url = app_url
        self.sandbox_url = sandbox_url
        self.timeout = timeout

    def fresh(self) -> SeleniumBrowser:
        """No cookies from an earlier test (for the app and the sandbox alike)."""
        self.driver.get(self.app_url + "/healthz")
        self.driver.delete_all_cookies()
        # WebKitGTK's driver does not always drop the sandbox's sign-in cookie with the app's,
        # and a test starting signed in to "Clever" never sees the persona picker: sign out.
        self.driver.get(self.sandbox_url + "/logout")
        return self

    def open(self, url: str) -> None:
        self.driver.get(url if url.startswith("http") else self.app_url + url)

    def wait(self, condition: Callable, message: str = "") -> object:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, self.timeout, poll_frequency=0.1).until(
            lambda driver: condition(driver), message
        )

    def wait_for_path(self, pattern: str) -> None:
        regex = re.compile(pattern)

        def reached(driver) -> bool:
            path = driver.current_url.split("?", 1)[0]
            return bool(regex.search(path)) and self.ready(driver)

        self.wait(reached, f"never reached {pattern}; at {self.driver.current_url}")

    @staticmethod
    def ready(driver) -> bool:
        return driver.execute_script("return document.readyState") == "complete"

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.wait(
            lambda driver: next(iter(driver.find_elements(By.CSS_SELECTOR, css)), None),
            f"no {css} on {self.driver.current_url}",
        )

    def find_all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text_of(self, css: str) -> str:
        return self.find(css).text.strip()

    def texts(self, css: str) -> list[str]:
        """The shown text of every element matching ``css`` (none: an empty list)."""
        return [element.text.strip() for element in self.find_all(css)]

    def page_text(self) -> str:
        return self.text_of("body")

    def click(self, css: str) -> None:
        """Click the first element matching ``css`` and wait for what it loads."""
        element = self.find(css)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        before = self.driver.current_url
        element.click()
        self._settle(before)

    def click_button(self, text: str) -> None:
        self._click("//button", text)

    def click_link(self, text: str) -> None:
        self._click("//a", text)

    def _click(self, xpath: str, text: str) -> None:
        from selenium.webdriver.common.by import By

        def target(driver):
            for element in driver.find_elements(By.XPATH, xpath):
                if element.is_displayed() and text in " ".join(element.text.split()):
                    return element
            return None

        element = self.wait(target, f"no {xpath[2:]} {text!r} on {self.driver.current_url}")
        # WebKitGTK's driver can miss clicks on elements still scrolling into view.
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        before = self.driver.current_url
        element.click()
        self._settle(before)

    def _settle(self, before: str) -> None:
        """After a click that navigates, wait until the next page has loaded."""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and self.driver.current_url == before:
            time.sleep(0.05)
        self.wait(self.ready, "page never finished loading")


class PlaywrightBrowser:
    """A Playwright page behind SeleniumBrowser's moves, so one scenario runs in every engine."""

    def __init__(self, page, app_url: str, sandbox_url: str, device: str | None = None) -> None:
        self.page = page
        self.device = device
        self.app_url = app_url
        self.sandbox_url = sandbox_url

    def open(self, url: str) -> None:
        self.page.goto(url if url.startswith("http") else self.app_url + url)

    def wait_for_path(self, pattern: str) -> None:
        regex = re.compile(pattern)
        self.page.wait_for_url(lambda url: bool(regex.search(url.split("?", 1)[0])))
        self.page.wait_for_load_state()

    def find(self, css: str):
        element = self.page.locator(css).first
        element.wait_for()
        return element

    def text_of(self, css: str) -> str:
        return self.find(css).inner_text().strip()

    def texts(self, css: str) -> list[str]:
        return [text.strip() for text in self.page.locator(css).all_inner_texts()]

    def page_text(self) -> str:
        return self.text_of("body")

    def click(self, css: str) -> None:
        self.find(css).click()
        self.page.wait_for_load_state()

    def click_button(self, text: str) -> None:
        self.page.locator("button:visible", has_text=text).first.click()
        self.page.wait_for_load_state()

    def click_link(self, text: str) -> None:
        self.page.locator("a:visible", has_text=text).first.click()
        self.page.wait_for_load_state()


@pytest.fixture(scope="session")
def _firefox() -> Iterator[RestartingDriver]:
    need("firefox")
    start = partial(firefox_driver, window_size=(1200, 900), time_zone=SELENIUM_TIME_ZONE)
    with contextlib.closing(RestartingDriver(start)) as driver:
        yield driver


@pytest.fixture(scope="session")
def _webkit() -> Iterator[RestartingDriver]:
    need("webkit")
    with contextlib.closing(
        RestartingDriver(partial(webkit_driver, time_zone=SELENIUM_TIME_ZONE))
    ) as driver:
        yield driver


@pytest.fixture
def firefox(_firefox, live_url, sandbox) -> SeleniumBrowser:
    return _firefox.run(lambda driver: SeleniumBrowser(driver, live_url, sandbox.url).fresh())


@pytest.fixture
def webkit(_webkit, live_url, sandbox) -> SeleniumBrowser:
    return _webkit.run(lambda driver: SeleniumBrowser(driver, live_url, sandbox.url).fresh())


@pytest.fixture(params=["chromium", "iphone", "firefox", "webkit"])
def any_browser(request, live_url, sandbox):
    """Each engine in turn behind one interface: Chromium on a desktop and as an iPhone 13
    (Playwright), Firefox ESR and WebKit (Selenium)."""
    if request.param in ("firefox", "webkit"):
        return request.getfixturevalue(request.param)
    new_context = request.getfixturevalue("new_context")
    device = None if request.param == "chromium" else request.param
    return PlaywrightBrowser(new_context(device).new_page(), live_url, sandbox.url, device)
