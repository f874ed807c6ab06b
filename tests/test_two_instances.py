"""Two instances of the app behind one database and one Redis, as a deployment with two hosts
(or a rolling deploy) runs: each is gunicorn with the repository's config, in its own processes,
and manual syncs run in the suite's real RQ worker process. A teacher logs in on instance A;
instance B then serves her dashboard, her "Sync now" (queued, run by the worker, polled to its
end) and her logout, with the same cookies. After the logout neither instance knows the session.

Runs on the suite's database: the SQLite file in CI's first pass, PostgreSQL in the second.
"""

from __future__ import annotations

import html
import re
import time

import requests
from first_morning import app_environment, gunicorn, log_in

from clever.sandbox import seed
from models import SyncRun, User, db

JSON = {"Accept": "application/json"}
ROBOTICS = "Robotics Club (Ñandú team)"  # one of Devon's classes


def csrf_token_in(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


def same_origin(origin: str) -> dict[str, str]:
    """What a browser sends with a form post from one of the app's own pages."""
    return {"Origin": origin, "Sec-Fetch-Site": "same-origin"}


def wait_for_manual_sync(browser: requests.Session, origin: str, timeout: float = 60) -> dict:
    """Poll /sync/status as the dashboard does until the manual sync has ended."""
    deadline = time.monotonic() + timeout
    while True:
        state = browser.get(origin + "/sync/status", headers=JSON, timeout=30).json()
        run = state.get("run") or {}
        if state["status"] != "running" and run.get("trigger") == "manual":
            return state
        assert time.monotonic() < deadline, f"the manual sync did not end: {state}"
        time.sleep(0.1)


def test_log_in_on_one_instance_then_use_and_leave_the_other(
    app, app_config, sandbox, rq_worker, tmp_path
):
    env = app_environment(app_config)
    with (
        gunicorn(env, log=tmp_path / "a.log") as origin_a,
        gunicorn(env, log=tmp_path / "b.log") as origin_b,
    ):
        browser_a = requests.Session()
        login = log_in(origin_a, sandbox.url, seed.DEVON_ID, http=browser_a)
        assert login.statuses[-1] == 200 and login.final_url.startswith(origin_a), login
        # The same cookies, sent to the other instance (a new port: a new jar, copied over).
        browser_b = requests.Session()
        browser_b.cookies.update(browser_a.cookies)
        old_cookies = requests.utils.dict_from_cookiejar(browser_a.cookies)

        dashboard = browser_b.get(origin_b + "/dashboard", allow_redirects=False, timeout=30)
        assert dashboard.status_code == 200, dashboard.status_code
        assert ROBOTICS in html.unescape(dashboard.text)

        started = browser_b.post(
            origin_b + "/sync",
            data={"csrf_token": csrf_token_in(dashboard.text)},
            headers={**JSON, **same_origin(origin_b)},
            timeout=30,
        )
        assert started.status_code == 202, started.text[:300]
        state = wait_for_manual_sync(browser_b, origin_b)
        assert state["status"] == "ok", state
        assert state["total"] == len(seed.section_ids_for(seed.DEVON_ID))
        # Instance A sees the same outcome: one database, one Redis.
        assert browser_a.get(origin_a + "/sync/status", headers=JSON, timeout=30).json() == state

        page = browser_b.get(origin_b + "/dashboard", timeout=30).text
        logout = browser_b.post(
            origin_b + "/logout",
            data={"csrf_token": csrf_token_in(page)},
            headers=same_origin(origin_b),
            allow_redirects=False,
            timeout=30,
        )
        assert logout.status_code == 302 and logout.headers["Location"].endswith("/logged-out")

        # The cookies from before the logout, on both instances: the session is gone.
        for origin in (origin_a, origin_b):
            stale = requests.Session()
            stale.cookies.update(old_cookies)
            page = stale.get(origin + "/dashboard", allow_redirects=False, timeout=30)
            assert page.status_code == 302 and page.headers["Location"].endswith("/login"), (
                origin,
                page.status_code,
            )
            status = stale.get(origin + "/sync/status", headers=JSON, timeout=30)
            assert status.status_code == 401

    with app.app_context():
        runs = db.session.execute(
            db.select(SyncRun.trigger, SyncRun.status)
            .join(User, SyncRun.user_id == User.id)
            .where(User.clever_id == seed.DEVON_ID)
            .order_by(SyncRun.id)
        ).all()
    assert [tuple(run) for run in runs] == [("login", "ok"), ("manual", "ok")]
