"""Every way a login can fail ends on the friendly page: plain words, Try again, a reference id
that also appears in the log line, a meaningful status, and never a stack trace."""

from __future__ import annotations

import re
import time

import pytest

from models import User, db

REFERENCE = re.compile(r'data-testid="error-reference">([0-9A-F]{8})<')


def assert_friendly(page, status: int, reason: str, caplog) -> None:
    assert page.status == status, page.text[:500]
    assert 'data-testid="login-error"' in page.text
    assert f'data-reason="{reason}"' in page.text
    # Issue 14: a refusal for the role offers "Sign out of Clever"; retrying would loop.
    next_step = "Sign out of Clever" if reason == "no_usable_role" else "Try again"
    assert next_step in page.text
    assert "Traceback" not in page.text
    reference = REFERENCE.search(page.text).group(1)
    assert any(reference in record.getMessage() for record in caplog.records)


def nobody_logged_in(client) -> bool:
    return client.get("/dashboard").status_code == 302


def test_user_denies_access_on_clevers_page(flow, client, caplog):
    picker = flow.go("/auth/clever/login")  # no Clever session yet: the sandbox's login page
    assert picker.status == 200 and "/oauth/authorize" in picker.url
    page = flow.go_form(picker, button_text="Deny")
    assert_friendly(page, 403, "access_denied", caplog)
    assert nobody_logged_in(client)


def test_callback_without_a_code(flow, client, caplog):
    page = flow.go("/auth/clever/callback")
    assert_friendly(page, 400, "no_code", caplog)
    assert nobody_logged_in(client)


@pytest.mark.parametrize(
    "fault, status, reason",
    [
        ({"status": 500}, 502, "clever_unavailable"),
        ({"status": 503}, 502, "clever_unavailable"),
        ({"html": True, "status": 200}, 502, "clever_bad_response"),
        ({"status": 400, "body": {"error": "invalid_grant"}}, 400, "invalid_grant"),
        ({"drop": True}, 502, "clever_unavailable"),
    ],
)
def test_token_endpoint_failures(flow, sandbox, client, caplog, fault, status, reason):
    sandbox.add_fault(path="/oauth/tokens", **fault)
    page = flow.login_with_button("ana")
    assert_friendly(page, status, reason, caplog)
    assert nobody_logged_in(client)


def test_token_endpoint_timeout(app, app_config, sandbox, flow, caplog):
    app.config["CLEVER_HTTP_TIMEOUT"] = (1.0, 0.5)
    sandbox.add_fault(path="/oauth/tokens", delay=2.0)
    page = flow.login_with_button("ana")
    assert_friendly(page, 502, "clever_unavailable", caplog)


def test_a_login_ends_by_its_deadline_however_slow_clever_is(app, sandbox, flow, caplog):
    """Each read of /users/{id} hangs 5 s and would be retried 3 times (about 20 s); the login's
    deadline (2 s here, 20 s by default, below gunicorn's 60 s) ends it with the friendly page."""
    app.config.update(LOGIN_DEADLINE_SECONDS=2, CLEVER_HTTP_TIMEOUT=(1.0, 4.0))
    sandbox.add_fault(path="/v3.0/users/*", delay=5.0)
    flow.sign_in_to_clever("ana")
    started = time.monotonic()
    page = flow.login_with_button("ana")
    elapsed = time.monotonic() - started
    assert_friendly(page, 502, "clever_unavailable", caplog)
    assert elapsed < 2 + 1.5, elapsed  # the deadline, plus the exchange and the page
    assert nobody_logged_in(flow.client)


def test_expired_code_is_invalid_grant(flow, sandbox, caplog):
    flow.sign_in_to_clever("ana")
    start = flow.fetch("/auth/clever/login")
    callback = flow.fetch(start.headers["Location"])  # sandbox answers with code + state
    sandbox.set_clock(61)
    page = flow.go(callback.headers["Location"])
    assert_friendly(page, 400, "invalid_grant", caplog)


@pytest.mark.parametrize(
    "fault, reason",
    [
        ({"status": 500}, "clever_unavailable"),
        ({"html": True, "status": 200}, "clever_bad_response"),
        ({"truncate": True}, "clever_bad_response"),
        ({"status": 401}, "clever_rejected"),
    ],
)
def test_data_api_failures_during_login(flow, sandbox, client, caplog, fault, reason, app):
    sandbox.add_fault(path="/v3.0/me", **fault)
    page = flow.login_with_button("ana")
    assert_friendly(page, 502, reason, caplog)
    assert nobody_logged_in(client)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_user_with_no_usable_role(flow, client, caplog, app):
    page = flow.portal_launch("guardian")
    assert_friendly(page, 403, "no_usable_role", caplog)
    assert nobody_logged_in(client)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_bad_state_twice(flow, client, caplog):
    page = flow.go("/auth/clever/callback?code=abc&state=stale.2")
    assert_friendly(page, 400, "bad_state", caplog)


def test_a_flood_of_oauth_requests_from_one_address_is_slowed_down(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "OAUTH_RATE_LIMIT", "3 per minute")
    pages = [client.get("/auth/clever/login") for _ in range(4)]
    assert [page.status_code for page in pages] == [302, 302, 302, 429]
    # Only a refusal says when: X-RateLimit-* headers would cost every login one Redis call.
    assert not any(name.startswith("X-RateLimit") for page in pages for name, _ in page.headers)
    limited = client.get("/auth/clever/callback?code=x")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "Slow down" in limited.get_data(as_text=True)


def test_a_guardian_is_offered_to_sign_out_of_clever_not_to_try_again(flow, sandbox):
    page = flow.portal_launch("guardian")
    assert page.status == 403
    assert "Try again" not in page.text and "Sign out of Clever" in page.text
    # In the demo it signs out of the simulated Clever and shows the persona picker.
    picker = flow.go_form(page, "Sign out of Clever")
    assert picker.url.startswith(f"{sandbox.url}/oauth/authorize?")
    assert "Log in to Clever (simulated)" in picker.text
