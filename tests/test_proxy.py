"""Behind a reverse proxy: TRUSTED_PROXY_COUNT, ProxyFix, and the OAuth limit per real client."""

from __future__ import annotations

import pytest
from limits import parse_many

from app import create_app
from clever.config import DEFAULT_OAUTH_RATE_LIMIT

PROXY = "10.0.0.2"  # the reverse proxy's own address, as the app's socket sees it


@pytest.fixture
def proxied_app(app, app_config):
    """The app behind one reverse proxy (wiped by the ``app`` fixture, like it)."""
    return create_app({**app_config, "TRUSTED_PROXY_COUNT": "1"})


def start(client, forwarded_for: str | None = None, remote: str = PROXY, **headers: str):
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return client.get("/auth/clever/login", headers=headers, environ_base={"REMOTE_ADDR": remote})


def test_without_trusted_proxies_forged_forwarding_headers_change_nothing(app, redis_client):
    app.config["OAUTH_RATE_LIMIT"] = "3 per minute"
    client = app.test_client()
    # A new forged address each time: all of them count against the one real peer.
    peer = "203.0.113.9"
    statuses = [start(client, f"198.51.100.{n}", remote=peer).status_code for n in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert start(client, "198.51.100.50", remote="203.0.113.10").status_code == 302
    keys = b" ".join(redis_client.keys("ratelimit*")).decode()
    assert "203.0.113.9" in keys and "198.51.100" not in keys
    with app.test_request_context(
        "/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    ):
        from flask import request

        assert (request.scheme, request.host) == ("http", "localhost")


def test_one_trusted_proxy_gives_the_client_address_scheme_and_host(proxied_app):
    seen = {}

    @proxied_app.get("/__peek")
    def peek():
        from flask import request

        seen.update(addr=request.remote_addr, scheme=request.scheme, host=request.host)
        return "ok"

    headers = {
        # A client-forged first entry, then what our proxy appended: only the last counts.
        "X-Forwarded-For": "6.6.6.6, 198.51.100.23",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "rooms.example.org",
    }
    proxied_app.test_client().get("/__peek", headers=headers, environ_base={"REMOTE_ADDR": PROXY})
    assert seen == {"addr": "198.51.100.23", "scheme": "https", "host": "rooms.example.org"}


def test_the_authorize_redirect_uri_never_follows_forwarded_headers(proxied_app, app_config):
    response = start(proxied_app.test_client(), "198.51.100.23", **{"X-Forwarded-Host": "evil.ex"})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "evil.ex" not in location
    assert app_config["CLEVER_REDIRECT_URI"].replace(":", "%3A").replace("/", "%2F") in location


def test_a_school_behind_one_address_starts_a_thousand_logins_a_minute_but_a_flood_stops(
    proxied_app,
):
    client = proxied_app.test_client()
    school = "198.51.100.77"
    per_minute = parse_many(DEFAULT_OAUTH_RATE_LIMIT)[0].amount
    assert per_minute >= 1000
    statuses = [start(client, school).status_code for _ in range(1000)]
    assert statuses.count(429) == 0
    rest = [start(client, school).status_code for _ in range(per_minute - 1000)]
    assert rest.count(429) == 0

    flood = start(client, school)
    assert flood.status_code == 429
    assert 1 <= int(flood.headers["Retry-After"]) <= 60
    assert "Slow down" in flood.get_data(as_text=True)
    # The limit is the school's, not the proxy's: another client behind it goes on.
    assert start(client, "198.51.100.78").status_code == 302
