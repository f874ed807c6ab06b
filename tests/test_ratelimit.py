"""clever/ratelimit.py: the counters in Redis (the views' 429s are in test_local_accounts and
test_auth_failures)."""

from __future__ import annotations

import pytest

from clever import ratelimit
from clever.ratelimit import TooManyAttempts


@pytest.mark.parametrize(
    ("seconds", "text"), [(1, "a minute"), (60, "a minute"), (61, "2 minutes"), (900, "15 minutes")]
)
def test_the_wait_reads_as_a_person_says_it(seconds, text):
    limited = TooManyAttempts(retry_after=seconds)
    assert limited.wait_text == text
    assert limited.headers == {"Retry-After": str(seconds)}


def test_oauth_requests_are_counted_per_address_up_to_the_configured_limit(app):
    app.config["OAUTH_REQUESTS_PER_MINUTE"] = 2
    with app.test_request_context("/auth/clever/login"):
        assert ratelimit.over_oauth_limit("203.0.113.9") is None
        assert ratelimit.over_oauth_limit("203.0.113.9") is None
        wait = ratelimit.over_oauth_limit("203.0.113.9")
        assert wait is not None and 1 <= wait <= 60
        assert ratelimit.over_oauth_limit("203.0.113.10") is None  # another address


def test_failures_count_per_account_and_per_address(app):
    with app.test_request_context("/login"):
        for _ in range(ratelimit.MAX_FAILURES_PER_EMAIL):
            ratelimit.record_failure("teacher@example.org", "198.51.100.7")
        with pytest.raises(TooManyAttempts):
            ratelimit.check_attempts_allowed("teacher@example.org", "198.51.100.8")
        # The address has failures left, and another account from it is still checked.
        ratelimit.check_attempts_allowed("other@example.org", "198.51.100.7")
        ratelimit.clear_email_failures("teacher@example.org")
        ratelimit.check_attempts_allowed("teacher@example.org", "198.51.100.8")


def test_a_probe_without_an_email_counts_against_the_address_only(app):
    with app.test_request_context("/signup"):
        for _ in range(ratelimit.MAX_FAILURES_PER_IP):
            ratelimit.record_failure(None, "192.0.2.44")
        with pytest.raises(TooManyAttempts) as limited:
            ratelimit.check_attempts_allowed(None, "192.0.2.44")
        assert 0 < limited.value.retry_after <= ratelimit.FAILURE_WINDOW_SECONDS
        ratelimit.check_attempts_allowed("someone@example.org", "192.0.2.45")


def test_redis_never_holds_the_email(app, redis_client):
    with app.test_request_context("/login"):
        ratelimit.record_failure("private.person@example.org", "198.51.100.99")
    keys = b" ".join(redis_client.keys("ratelimit:*"))
    assert b"private.person" not in keys and b"ratelimit:password:email:" in keys
