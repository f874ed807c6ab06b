"""A Clever token endpoint that hangs: the login ends in our friendly error page within the
login's deadline (plus a second), under the repository's gunicorn config, never in gunicorn's
bare "Internal Server Error" after its worker timeout.

The deadline starts when the callback does and covers the code exchange: the exchange's
timeouts are cut to what is left of it (clever.oauth.exchange_timeout).
"""

from __future__ import annotations

import html
import runpy
import time

from first_morning import ROOT, app_environment, gunicorn, log_in

from clever import oauth
from clever.config import TUNABLES
from clever.sandbox import seed

DEADLINE = 4  # seconds: short, so the test is quick; the shipped default is checked below
HANG = 20  # longer than CLEVER_HTTP_TIMEOUT's 10 s read: only the deadline can end the wait


def test_the_shipped_deadline_ends_logins_before_gunicorn_kills_the_worker():
    gunicorn_timeout = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["timeout"]
    deadline = TUNABLES["LOGIN_DEADLINE_SECONDS"]
    # A second for the friendly page and the database work after the last Clever call.
    assert deadline + 1 < gunicorn_timeout, (deadline, gunicorn_timeout)
    # One Clever read alone cannot outlast the worker either.
    connect, read = TUNABLES["CLEVER_HTTP_TIMEOUT"]
    assert connect + read < gunicorn_timeout


def test_the_code_exchange_timeout_is_cut_to_the_time_left():
    now = time.time()
    assert oauth.exchange_timeout((3.05, 10.0), None) == (3.05, 10.0)
    assert oauth.exchange_timeout((3.05, 10.0), now + 60) == (3.05, 10.0)
    connect, read = oauth.exchange_timeout((3.05, 10.0), now + 2)
    assert connect == read and 1.5 < read <= 2
    assert 0 < max(oauth.exchange_timeout((3.05, 10.0), now - 5)) < 0.01


def test_a_hanging_token_endpoint_gives_the_friendly_page_within_the_deadline(
    app, app_config, sandbox, tmp_path
):
    hang = sandbox.add_fault(path="/oauth/tokens", method="POST", delay=HANG)
    log = tmp_path / "gunicorn.log"
    spec = f'app:create_app({{"LOGIN_DEADLINE_SECONDS": {DEADLINE}}})'
    with gunicorn(app_environment(app_config), log=log, app_spec=spec) as origin:
        login = log_in(origin, sandbox.url, seed.ANA_ID)

    # The code exchange was sent, and hung (it is still hanging: the sandbox logs it later).
    assert [f["fired"] for f in sandbox.faults() if f["id"] == hang] == [1]
    print("requests and their seconds:", [(path, round(t, 2)) for path, t in login.hops])
    # From the callback (where the deadline starts) to the error page on the screen.
    assert login.seconds_from("/auth/clever/callback") <= DEADLINE + 1, login.hops
    # The callback sends the browser to our error page, which says what happened.
    assert login.statuses[-2:] == [303, 502], login.statuses
    assert "/auth/clever/failed/" in login.final_url
    text = html.unescape(login.text)
    assert 'data-reason="clever_unavailable"' in text
    assert "Clever isn't answering right now" in text
    assert "Internal Server Error" not in text
    assert "WORKER TIMEOUT" not in log.read_text()
