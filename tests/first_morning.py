"""The first morning of school, over real HTTP: the app under gunicorn (its own processes, the
repository's config), many first logins at once whose rosters overlap.

Shared by tests/test_first_morning.py (a small crowd, every CI pass) and the benchmark in
tests/bench/ (the whole crowd, several rounds).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import requests
from flows import APP_ORIGIN, PRIMARY_REDIRECT_URI

from clever.config import DEMO_CLIENT_ID
from clever.embedded_redis import free_port
from clever.sandbox import seed

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def app_environment(app_config: dict, **extra: str) -> dict[str, str]:
    """The environment a gunicorn (or worker) process reads its settings from."""
    names = ("APP_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CLEVER_REDIRECT_URI")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update({name: str(app_config[name]) for name in names})
    env["CLEVER_OAUTH_BASE_URL"] = app_config["CLEVER_OAUTH_BASE_URL"]
    env["CLEVER_API_BASE_URL"] = app_config["CLEVER_API_BASE_URL"]
    env.update(extra)
    return env


@contextmanager
def gunicorn(
    env: dict[str, str], *args: str, log: Path | None = None, app_spec: str = "app:create_app()"
) -> Iterator[str]:
    """``gunicorn -c gunicorn.conf.py 'app:create_app()'`` on a free port; yields its origin.
    Its error log (the app's own log lines) goes to ``log`` when given. ``app_spec`` may pass
    the factory a literal config dict, e.g. ``'app:create_app({"LOGIN_DEADLINE_SECONDS": 4})'``
    (gunicorn evaluates literal arguments), for settings the environment does not carry."""
    port = free_port()
    command = [str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py"), "-b", f"127.0.0.1:{port}"]
    with open(log or os.devnull, "w") as stderr:
        process = subprocess.Popen(
            [*command, *args, app_spec],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,  # the access log
            stderr=stderr,
        )
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "gunicorn exited at start"
            try:
                if requests.get(origin + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still loading the app
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        yield origin
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def overlapping_crowd(teachers: int, students: int) -> list[str]:
    """Clever ids of the first ``teachers`` of Riverbend's first-morning teachers (neighbours
    co-teach a class), then the ``students`` of its first-morning students who sit in the most
    of those teachers' classes: every roster overlaps another one. Riverbend must be connected
    first (``open_riverbend``)."""
    data = seed.build()
    chosen = list(seed.FIRST_MORNING_TEACHER_IDS[:teachers])
    seats = Counter(
        student
        for section in data.sections.values()
        if set(section["teachers"]) & set(chosen)
        for student in section["students"]
    )
    pupils = sorted(seed.FIRST_MORNING_STUDENT_IDS, key=lambda uid: (-seats[uid], uid))[:students]
    assert len(chosen) == teachers and len(pupils) == students, "the seed is too small"
    assert all(seats[uid] for uid in pupils), "a student in none of the teachers' classes"
    return chosen + pupils


def open_riverbend(sandbox) -> None:
    """Riverbend connects the app at district level: its logins are District SSO and its
    rosters are read with its district-app token, as on a real first morning."""
    sandbox.connect_district(seed.RIVERBEND_DISTRICT_ID)


@dataclass
class Login:
    clever_id: str
    statuses: list[int]
    final_url: str
    text: str
    seconds: float
    hops: list[tuple[str, float]]  # (path, seconds) of each request after the sandbox's

    def seconds_from(self, path: str) -> float:
        """Wall time from the first request to ``path`` to the last answer."""
        index = next(i for i, (hop, _) in enumerate(self.hops) if hop == path)
        return sum(seconds for _, seconds in self.hops[index:])

    @property
    def server_errors(self) -> int:
        return sum(status >= 500 for status in self.statuses)


def log_in(
    origin: str, sandbox_url: str, clever_id: str, http: requests.Session | None = None
) -> Login:
    """A browser's first login: "Log in with Clever" on the app, Clever (the sandbox, already
    signed in) answers with a code, the callback, then wherever the app sends the user.
    ``http``: the browser (its cookies), a fresh one by default."""
    http = http or requests.Session()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": PRIMARY_REDIRECT_URI,
            "login_hint": clever_id,
        }
    )
    # Signs this browser in to the sandbox (the code it answers with is never used).
    http.get(f"{sandbox_url}/oauth/authorize?{query}", allow_redirects=False, timeout=30)
    started = time.monotonic()
    url, statuses, hops = origin + "/auth/clever/login", [], []
    for _ in range(10):
        sent = time.monotonic()
        response = http.get(url, allow_redirects=False, timeout=60)
        hops.append((urlsplit(url).path, time.monotonic() - sent))
        statuses.append(response.status_code)
        if response.status_code not in (301, 302, 303):
            break
        location = response.headers["Location"]
        # The registered redirect URI names the suite's port; this app listens on another.
        location = location.replace(APP_ORIGIN, origin, 1)
        url = location if location.startswith("http") else origin + location
    return Login(clever_id, statuses, url, response.text, time.monotonic() - started, hops)


def crowd_logs_in(origin: str, sandbox_url: str, clever_ids: list[str]) -> list[Login]:
    """Everyone at once: each login in its own thread, released together by a barrier."""
    results: list[Login | BaseException] = [None] * len(clever_ids)  # type: ignore[list-item]
    barrier = threading.Barrier(len(clever_ids))

    def one(index: int, clever_id: str) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = log_in(origin, sandbox_url, clever_id)
        except BaseException as error:  # reported by the caller, with the others
            results[index] = error

    threads = [
        threading.Thread(target=one, args=(i, cid), daemon=True) for i, cid in enumerate(clever_ids)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    return results  # type: ignore[return-value]
