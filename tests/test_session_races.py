"""An ended session stays ended: a request that was in flight when the session ended (logout,
another person's login on a shared device, idle expiry) cannot write it back, over real HTTP.

Each race runs 20 times: the slow request loads the session, the session ends, then the slow
request's body arrives and it finishes. Before the fix about a third of these resurrected the
old session key with a 12-hour TTL.
"""

from __future__ import annotations

import time

import pytest
import requests
from live import SlowRequest, portal_launch, sign_in
from msgspec import msgpack

from clever.sessions import SESSION_KEY_PREFIX

ROUNDS = 20


def slow_selection(live_url: str, sid: str) -> SlowRequest:
    """A teacher's class-selection POST whose form body is sent later."""
    return SlowRequest(
        live_url,
        "/classes/selection",
        {"Cookie": f"session={sid}", "Content-Type": "application/x-www-form-urlencoded"},
        b"section_ids=1",
    )


def assert_not_resurrected(live_url, redis_client, sid, slow_response) -> None:
    # The slow request ran as the signed-in teacher (the race really happened) ...
    assert slow_response.status in (302, 303), slow_response.status
    assert slow_response.header("Location").endswith("/dashboard"), slow_response.headers
    # ... yet its end wrote nothing back and handed the browser no cookie.
    assert not redis_client.exists(SESSION_KEY_PREFIX + sid)
    assert not any(c.startswith("session=") for c in slow_response.set_cookies())
    stale = requests.get(
        f"{live_url}/dashboard", cookies={"session": sid}, allow_redirects=False, timeout=30
    )
    assert stale.status_code == 302 and "/login" in stale.headers["Location"]


def race(live_url, redis_client, end_the_session, then=None) -> None:
    """ROUNDS times: sign in, start a slow request, ``end_the_session(browser, sid)``, finish the
    slow request, check the ended session stayed ended, then ``then(browser)``."""
    browser = sign_in(live_url, "zoe")
    for _ in range(ROUNDS):
        sign_in(live_url, "zoe", browser)
        sid = browser.cookies["session"]
        slow = slow_selection(live_url, sid)
        end_the_session(browser, sid)
        assert_not_resurrected(live_url, redis_client, sid, slow.finish())
        if then is not None:
            then(browser)


@pytest.mark.timeout(300)
def test_logout_is_final_even_with_a_request_in_flight(live_url, redis_client):
    def logout(browser, sid):
        response = browser.post(f"{live_url}/logout", allow_redirects=False, timeout=30)
        assert response.status_code == 302 and not redis_client.exists(SESSION_KEY_PREFIX + sid)

    race(live_url, redis_client, logout)


@pytest.mark.timeout(300)
def test_a_shared_device_override_is_final_even_with_a_request_in_flight(
    live_url, sandbox, redis_client
):
    def student_launches_from_the_portal(browser, teacher_sid):
        landed = portal_launch(live_url, sandbox.url, "mateo", browser)
        assert landed.status_code == 200 and "Mateo" in landed.text
        assert browser.cookies["session"] != teacher_sid

    def student_still_signed_in(browser):
        # The slow teacher request did not take the device back from the student.
        page = browser.get(f"{live_url}/dashboard", timeout=30)
        assert page.status_code == 200 and "Mateo" in page.text

    race(live_url, redis_client, student_launches_from_the_portal, then=student_still_signed_in)


@pytest.mark.timeout(300)
def test_idle_expiry_is_final_even_with_a_request_in_flight(live_url, redis_client):
    def go_idle_then_come_back(browser, sid):
        # The session goes idle after the slow request loaded it, and the next request ends it.
        key = SESSION_KEY_PREFIX + sid
        data = msgpack.decode(redis_client.get(key))
        data["last_seen"] = time.time() - 3600
        redis_client.set(key, msgpack.encode(data), keepttl=True)
        ended = browser.get(f"{live_url}/dashboard", allow_redirects=False, timeout=30)
        assert "reason=idle" in ended.headers["Location"]

    race(live_url, redis_client, go_idle_then_come_back)
