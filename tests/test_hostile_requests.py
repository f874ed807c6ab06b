"""Hostile input over real HTTP never gets a 5xx: ids out of range, control characters in every
Clever string, oversized bodies and lists, forged Host headers, cross-site and token-less posts."""

from __future__ import annotations

import re

import requests
from live import sign_in
from werkzeug.routing.converters import NumberConverter

from clever.sandbox import seed
from clever.sessions import SESSION_KEY_PREFIX
from clever.views import RowIdConverter
from models import School, Section, User, db

HUGE_IDS = ("9223372036854775808", "2147483648", "1" * 40, "0")
CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def test_ids_out_of_range_are_404_on_every_route_with_an_id(live_url, app):
    browser = sign_in(live_url, "ana")
    converters = [c for rule in app.url_map.iter_rules() for c in rule._converters.values()]
    # Every number in a URL goes through the bounded converter.
    assert not [
        c
        for c in converters
        if isinstance(c, NumberConverter) and not isinstance(c, RowIdConverter)
    ]
    rules = [r for r in app.url_map.iter_rules() if "<id:" in r.rule]
    assert len(rules) >= 4, "the class page and the held-sync pages take ids"
    for rule in rules:
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            for huge in HUGE_IDS:
                path = re.sub(r"<id:\w+>", huge, rule.rule)
                response = browser.request(method, live_url + path, timeout=30)
                assert response.status_code == 404, (method, path, response.status_code)


def test_control_characters_in_every_clever_string_field_are_cleaned(live_url, sandbox, app):
    sandbox.mutate("rename_user", user_id=seed.ANA_ID, first="A\x00na\tMaria", last="N\x00\nez")
    sandbox.mutate("rename_section", section_id=seed.BIG_SECTION_ID, name="Math\x00\r\n4\x1b[31m")
    sandbox.mutate(
        "set_section_field", section_id=seed.BIG_SECTION_ID, field="subject", value="math\x00"
    )
    for school in (seed.CEDAR_ID, seed.BIRCH_ID):
        sandbox.mutate("rename_school", school_id=school, name="Cedar\x00\x07 School\n")
    browser = sign_in(live_url, "ana")  # a login (and its sync) of a user named with U+0000
    page = browser.get(f"{live_url}/dashboard", timeout=30)
    assert page.status_code == 200 and "Ana Maria" in page.text
    with app.app_context():
        ana = db.session.scalar(db.select(User).filter_by(clever_id=seed.ANA_ID))
        section = db.session.scalar(db.select(Section).filter_by(clever_id=seed.BIG_SECTION_ID))
        schools = db.session.scalars(db.select(School)).all()
        assert (ana.first_name, ana.last_name) == ("Ana Maria", "N ez")
        assert (section.name, section.subject) == ("Math 4[31m", "math")
        assert schools and all(not CONTROL.search(s.name) for s in schools)
        section_id = section.id
    class_page = browser.get(f"{live_url}/classes/{section_id}", timeout=30)
    assert class_page.status_code == 200 and "Math 4[31m" in class_page.text
    assert not CONTROL.search(class_page.text.replace("\n", "").replace("\r", ""))


def test_a_ten_megabyte_body_is_refused_with_413(live_url):
    for path in ("/login", "/classes/selection", "/logout"):
        response = requests.post(live_url + path, data=b"x" * (10 * 1024 * 1024), timeout=30)
        assert response.status_code == 413, (path, response.status_code)
        assert "too much" in response.text


def test_ten_thousand_section_ids_are_refused(live_url, app):
    browser = sign_in(live_url, "ana")
    many = {"section_ids": [str(n) for n in range(1, 10_001)]}
    response = browser.post(f"{live_url}/classes/selection", data=many, timeout=30)
    assert response.status_code == 400
    assert browser.get(f"{live_url}/dashboard", timeout=30).status_code == 200


def test_a_forged_host_is_refused(strict_url):
    for headers in ({"Host": "evil.example"}, {"Host": "evil.example", "X-Forwarded-Host": "x"}):
        for path in ("/", "/login", "/auth/clever/login", "/healthz"):
            response = requests.get(strict_url + path, headers=headers, timeout=30)
            assert response.status_code == 400, (path, response.status_code)
            assert "evil.example" not in response.headers.get("Location", "")
    assert requests.get(strict_url + "/", timeout=30).status_code == 200


def logout_token(browser, url: str) -> str:
    page = browser.get(f"{url}/dashboard", timeout=30).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_cross_site_posts_are_refused_and_logout_needs_our_page(live_url, strict_url, redis_client):
    browser = sign_in(live_url, "ana")
    key = SESSION_KEY_PREFIX + browser.cookies["session"]
    token = logout_token(browser, strict_url)
    # Another site's form, even one carrying a valid token, is refused before it is read.
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}):
        for path in ("/logout", "/classes/selection", "/sync"):
            response = browser.post(
                strict_url + path, data={"csrf_token": token}, headers=headers, timeout=30
            )
            assert response.status_code == 403, (path, headers, response.status_code)
    assert redis_client.exists(key)
    # No token and no sign of where it came from: not logged out, offered a fresh button.
    confirm = browser.post(f"{strict_url}/logout", allow_redirects=False, timeout=30)
    assert confirm.status_code == 400 and 'name="csrf_token"' in confirm.text
    assert redis_client.exists(key)
    # A stale tab of ours (expired token, Origin is us): it logs out all the same.
    stale = browser.post(
        f"{strict_url}/logout",
        data={"csrf_token": "expired"},
        headers={"Origin": strict_url, "Sec-Fetch-Site": "same-origin"},
        allow_redirects=False,
        timeout=30,
    )
    assert stale.status_code == 302 and stale.headers["Location"].endswith("/logged-out")
    assert not redis_client.exists(key)


def test_logout_with_a_valid_token_works_without_fetch_metadata(live_url, strict_url, redis_client):
    browser = sign_in(live_url, "ana")
    key = SESSION_KEY_PREFIX + browser.cookies["session"]
    response = browser.post(
        f"{strict_url}/logout",
        data={"csrf_token": logout_token(browser, strict_url)},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302 and not redis_client.exists(key)
