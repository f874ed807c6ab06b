"""Deny by default: every route outside a short allowlist needs a login."""

from __future__ import annotations

import re

import pytest

PUBLIC = {
    "static",
    "health.healthz",
    "dashboard.home",
    "auth.login_page",
    "auth.clever_login",
    "auth.callback",
    "auth.logout",
    "auth.logged_out",
    "auth.login_failed",  # the failure page after a callback: anyone who tried to sign in
    "local.login",
    "local.signup",
    "demo.demo",
    "demo.switch",  # "Switch person" signs out, like auth.logout; offered on the logged-out page
    "pages.privacy",
}


# Served only with a bearer token; to everyone else they do not exist (404).
TOKEN_ONLY = {"metrics.metrics"}


def concrete(rule) -> str:
    return re.sub(r"<(?:int:)?[^>]+>", "1", rule.rule)


def routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_private_route_refuses_anonymous_visitors(app):
    client = app.test_client()
    checked = 0
    for rule, method in routes(app):
        if rule.endpoint in PUBLIC:
            continue
        response = client.open(concrete(rule), method=method)
        if rule.endpoint in TOKEN_ONLY:
            assert response.status_code == 404, (rule.rule, method)
            continue
        assert response.status_code in {302, 401, 403}, (rule.rule, method, response.status_code)
        if response.status_code == 302:
            assert response.headers["Location"].endswith("/login"), (rule.rule, method)
        checked += 1
    assert checked >= 8  # the crawl really visited the private routes


@pytest.mark.parametrize("path", ["/", "/login", "/logged-out", "/healthz", "/demo", "/privacy"])
def test_public_pages_answer_without_a_login(client, path):
    assert client.get(path).status_code in {200, 302}


def test_the_allowlist_names_real_endpoints(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints >= PUBLIC
