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


def test_password_failures_count_per_account_and_address(app):
    limit = ratelimit.FAILURES_PER_ACCOUNT_AND_ADDRESS.amount
    with app.test_request_context("/login"):
        for _ in range(limit):
            ratelimit.record_failure("teacher@example.org", "198.51.100.7")
        with pytest.raises(TooManyAttempts) as limited:
            ratelimit.check_attempts_allowed("teacher@example.org", "198.51.100.7")
        assert 14 * 60 < limited.value.retry_after <= 15 * 60 + 1
        ratelimit.check_attempts_allowed("teacher@example.org", "198.51.100.8")  # another address
        ratelimit.check_attempts_allowed("other@example.org", "198.51.100.7")  # another account
        ratelimit.clear_account_failures("teacher@example.org", "198.51.100.7")
        ratelimit.check_attempts_allowed("teacher@example.org", "198.51.100.7")


def test_address_failures_lock_the_address_for_every_account(app):
    with app.test_request_context("/signup"):
        for _ in range(ratelimit.FAILURES_PER_ADDRESS.amount):
            ratelimit.record_failure(None, "192.0.2.44")
        with pytest.raises(TooManyAttempts) as limited:
            ratelimit.check_attempts_allowed(None, "192.0.2.44")
        assert 0 < limited.value.retry_after <= 15 * 60 + 1
        with pytest.raises(TooManyAttempts):
            ratelimit.check_attempts_allowed("someone@example.org", "192.0.2.44")
        ratelimit.check_attempts_allowed("someone@example.org", "192.0.2.45")


def test_counter_keys_never_hold_the_email(app, redis_client):
    with app.test_request_context("/login"):
        ratelimit.record_failure("private.person@example.org", "198.51.100.99")
    keys = b" ".join(redis_client.keys("ratelimit*"))
    assert b"private.person" not in keys and b"password/pair/" in keys
