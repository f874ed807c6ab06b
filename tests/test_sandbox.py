"""The Clever sandbox over real HTTP: OAuth, entry points, Data API, scopes, faults, control."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from markupsafe import escape as html_escape
from sandbox_server import SandboxServer, short_hash
from waves import wave_numbers

from clever.config import DEMO_CLIENT_ID, DEMO_REDIRECT_URI
from clever.sandbox import seed

PRIMARY = DEMO_REDIRECT_URI
SECONDARY = "https://app.example.org/auth/clever/callback"
REPO = Path(__file__).resolve().parents[1]


# -- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with SandboxServer(redirect_uris=[PRIMARY, SECONDARY]) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def fresh(server):
    server.reset()


@pytest.fixture
def browser():
    """A browser's view of the sandbox: its own cookie jar, redirects not followed."""
    with requests.Session() as session:
        yield session


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def authorize(server, browser, **params):
    query = {"response_type": "code", "client_id": DEMO_CLIENT_ID, "redirect_uri": PRIMARY}
    query.update(params)
    return browser.get(f"{server.url}/oauth/authorize", params=query, allow_redirects=False)


def code_from(response) -> str:
    assert response.status_code == 302, response.text[:300]
    return query_of(response.headers["Location"])["code"]


def exchange(server, code, redirect_uri=PRIMARY, auth=None, as_json=False, **extra):
    body = {"code": code, "grant_type": "authorization_code", "redirect_uri": redirect_uri}
    body.update(extra)
    auth = auth or (server.client_id, server.client_secret)
    kwargs = {"json": body} if as_json else {"data": body}
    return requests.post(f"{server.url}/oauth/tokens", auth=auth, timeout=10, **kwargs)


def api(server, token, path, session=None, **params):
    return (session or requests).get(
        server.url + path,
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def ids(body) -> list[str]:
    return [element["data"]["id"] for element in body["data"]]


def link(body, rel) -> str | None:
    return next((x["uri"] for x in body["links"] if x["rel"] == rel), None)


def pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(os.urandom(40)).rstrip(b"=").decode()
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# -- OAuth: authorize -----------------------------------------------------------------------


def test_authorize_without_a_session_shows_the_persona_picker(server, browser):
    page = authorize(server, browser, state="s1")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert '<html lang="en">' in html and "<main" in html and "<h1>" in html
    assert "This is a simulated Clever for demos and tests" in html
    for persona in seed.PERSONAS.values():
        assert html_escape(persona.exercises) in html
        assert f'value="{persona.key}"' in html
    assert "135 students" in html and "co-teacher" in html and "no email" in html
    assert "Deny access" in html and "Sign out of Clever sandbox" not in html


def test_choosing_a_persona_remembers_it_like_a_clever_session(server, browser):
    picker = authorize(server, browser, state="abc")
    chosen = browser.post(
        f"{server.url}/login",
        data={
            "persona": "ana",
            "next": urlsplit(picker.url).path + "?" + urlsplit(picker.url).query,
        },
        allow_redirects=False,
    )
    assert chosen.status_code == 303
    assert "sandbox_session" in browser.cookies
    first = browser.get(server.url + chosen.headers["Location"], allow_redirects=False)
    assert first.headers["Location"].startswith(PRIMARY + "?")
    assert query_of(first.headers["Location"])["state"] == "abc"
    # A second authorize returns at once, with a new code, like a live Clever session.
    second = authorize(server, browser, state="def")
    assert second.status_code == 302
    assert code_from(second) != code_from(first)
    assert query_of(second.headers["Location"])["state"] == "def"
    assert "Sign out of Clever sandbox" in browser.get(server.url + "/").text


def test_state_comes_back_only_if_it_was_sent(server, browser):
    without = authorize(server, browser, login_hint="ana")
    assert set(query_of(without.headers["Location"])) == {"code"}
    odd_state = "a b/c?d=e&f+ü"
    with_state = authorize(server, browser, state=odd_state)
    assert query_of(with_state.headers["Location"])["state"] == odd_state
    empty = authorize(server, browser, state="")
    assert query_of(empty.headers["Location"])["state"] == ""


def test_redirect_uri_with_its_own_query_keeps_every_byte(server, browser):
    with SandboxServer(redirect_uris=["http://127.0.0.1:9/cb?tenant=a%2Fb"]) as other:
        response = authorize(
            other, browser, redirect_uri=other.primary_redirect_uri, login_hint="ana"
        )
        assert response.headers["Location"].startswith("http://127.0.0.1:9/cb?tenant=a%2Fb&code=")


def test_login_hint_takes_a_persona_key_or_a_user_id(server, browser):
    by_key = code_from(authorize(server, browser, login_hint="mateo"))
    by_id = code_from(authorize(server, browser, login_hint=seed.DEVON_ID))
    assert exchange(server, by_key).status_code == 200
    token = exchange(server, by_id).json()["access_token"]
    assert api(server, token, "/v3.0/me").json()["data"]["id"] == seed.DEVON_ID
    assert authorize(server, browser, login_hint="nobody").status_code == 400


def test_unknown_client_or_unregistered_redirect_uri_is_an_error_page(server, browser):
    bad_client = authorize(server, browser, client_id="someone-else", login_hint="ana")
    assert bad_client.status_code == 400 and "Location" not in bad_client.headers
    assert "Unknown app" in bad_client.text
    for uri in (PRIMARY + "/", PRIMARY.upper(), PRIMARY + "?x=1", "https://evil.example/cb"):
        page = authorize(server, browser, redirect_uri=uri, login_hint="ana")
        assert page.status_code == 400, uri
        assert "Location" not in page.headers
    # A registered secondary URI is fine for an app-initiated login.
    assert authorize(server, browser, redirect_uri=SECONDARY, login_hint="ana").status_code == 302


def test_bad_response_type_and_pkce_method_redirect_with_an_error(server, browser):
    wrong_type = authorize(server, browser, response_type="token", state="s", login_hint="ana")
    assert query_of(wrong_type.headers["Location"]) == {
        "error": "unsupported_response_type",
        "state": "s",
    }
    plain = authorize(server, browser, code_challenge="abc", code_challenge_method="plain")
    assert query_of(plain.headers["Location"])["error"] == "invalid_request"


def test_deny_access_returns_access_denied_with_state_if_any(server, browser):
    base = {"client_id": DEMO_CLIENT_ID, "redirect_uri": PRIMARY}
    denied = browser.post(
        f"{server.url}/oauth/deny", data={**base, "state": "s9"}, allow_redirects=False
    )
    assert query_of(denied.headers["Location"]) == {"error": "access_denied", "state": "s9"}
    no_state = browser.post(f"{server.url}/oauth/deny", data=base, allow_redirects=False)
    assert query_of(no_state.headers["Location"]) == {"error": "access_denied"}
    tampered = browser.post(
        f"{server.url}/oauth/deny", data={**base, "redirect_uri": "https://evil.example/"}
    )
    assert tampered.status_code == 400


def test_signing_out_of_the_sandbox_brings_the_picker_back(server, browser):
    authorize(server, browser, login_hint="ana")
    assert authorize(server, browser).status_code == 302
    page = browser.get(f"{server.url}/logout")
    assert "signed out of the Clever sandbox" in page.text
    assert authorize(server, browser).status_code == 200
    back = browser.get(
        f"{server.url}/logout", params={"next": "//evil.example/"}, allow_redirects=False
    )
    assert back.headers["Location"] == "/"


# -- OAuth: tokens --------------------------------------------------------------------------


def test_token_exchange_accepts_json_and_form(server, browser):
    for as_json in (False, True):
        code = code_from(authorize(server, browser, login_hint="ana"))
        response = exchange(server, code, as_json=as_json)
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer" and len(body["access_token"]) >= 32
        assert response.headers["Cache-Control"] == "no-store"
    other = requests.post(
        f"{server.url}/oauth/tokens",
        data="code=x",
        headers={"Content-Type": "text/plain"},
        auth=(server.client_id, server.client_secret),
    )
    assert other.status_code == 400 and other.json()["error"] == "invalid_request"


def test_a_code_works_once(server, browser):
    code = code_from(authorize(server, browser, login_hint="ana"))
    assert exchange(server, code).status_code == 200
    again = exchange(server, code)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "invalid code"}


def test_a_code_expires_after_60_seconds(server, browser):
    fresh_code = code_from(authorize(server, browser, login_hint="ana"))
    stale_code = code_from(authorize(server, browser))
    server.set_clock(59)
    assert exchange(server, fresh_code).status_code == 200
    server.set_clock(61)
    expired = exchange(server, stale_code)
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"


def test_client_authentication(server, browser):
    code = code_from(authorize(server, browser, login_hint="ana"))
    wrong = exchange(server, code, auth=(server.client_id, "wrong-secret"))
    assert wrong.status_code == 401 and wrong.json() == {"error": "invalid_client"}
    missing = requests.post(f"{server.url}/oauth/tokens", data={"code": code})
    assert missing.status_code == 401 and missing.json() == {"error": "invalid_client"}
    other_client = exchange(server, code, auth=("someone-else", server.client_secret))
    assert other_client.status_code == 401
    # Failed client authentication does not burn the code.
    assert exchange(server, code).status_code == 200


def test_redirect_uri_must_match_the_authorize_request_byte_for_byte(server, browser):
    code = code_from(authorize(server, browser, login_hint="ana"))
    mismatch = exchange(server, code, redirect_uri=PRIMARY + "/")
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_grant"
    secondary_code = code_from(authorize(server, browser, redirect_uri=SECONDARY))
    assert exchange(server, secondary_code, redirect_uri=PRIMARY).status_code == 400
    ok_code = code_from(authorize(server, browser, redirect_uri=SECONDARY))
    assert exchange(server, ok_code, redirect_uri=SECONDARY).status_code == 200


def test_pkce_s256(server, browser):
    verifier, challenge = pkce_pair()
    params = {"code_challenge": challenge, "code_challenge_method": "S256", "login_hint": "ana"}
    good = code_from(authorize(server, browser, **params))
    assert exchange(server, good, code_verifier=verifier).status_code == 200
    for wrong in ({"code_verifier": verifier + "x"}, {}):
        code = code_from(authorize(server, browser, **params))
        response = exchange(server, code, **wrong)
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    log = server.requests_log(kind="token")
    assert log[0]["pkce"] == "S256" and log[0]["code_verifier_sent"] is True
    assert verifier not in json.dumps(log)


def test_the_same_code_exchanged_from_many_threads_succeeds_once(server, browser):
    code = code_from(authorize(server, browser, login_hint="ana"))
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(exchange(server, code).status_code))
        for _ in range(10)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [400] * 9
    assert server.count("token") == 10


# -- Clever-initiated entry points --------------------------------------------------------


def test_portal_requires_a_session_then_launches_to_the_primary_uri_without_state(server, browser):
    picker = browser.get(f"{server.url}/portal")
    assert picker.status_code == 200 and 'name="next" value="/portal"' in picker.text
    chosen = browser.post(
        f"{server.url}/login", data={"persona": "mateo", "next": "/portal"}, allow_redirects=False
    )
    portal = browser.get(server.url + chosen.headers["Location"])
    assert "Roster Room" in portal.text and "Mateo" in portal.text
    launch = browser.get(f"{server.url}/portal/launch", allow_redirects=False)
    location = launch.headers["Location"]
    assert location.startswith(PRIMARY + "?code=")
    assert set(query_of(location)) == {"code"}
    token = exchange(server, code_from(launch)).json()["access_token"]
    assert api(server, token, "/v3.0/me").json()["data"]["id"] == seed.MATEO_ID


def test_instant_login_link(server, browser):
    params = {"client_id": DEMO_CLIENT_ID, "district_id": seed.DISTRICT_ID}
    url = f"{server.url}/oauth/instant-login"
    picker = browser.get(url, params=params)
    assert picker.status_code == 200 and "Log in as" in picker.text
    authorize(server, browser, login_hint="devon")
    response = browser.get(url, params=params, allow_redirects=False)
    assert response.headers["Location"].startswith(PRIMARY + "?")
    assert set(query_of(response.headers["Location"])) == {"code"}
    assert exchange(server, code_from(response)).status_code == 200
    assert browser.get(url, params={**params, "client_id": "nope"}).status_code == 400
    assert browser.get(url, params={**params, "district_id": "0" * 24}).status_code == 400


def test_library_install_asks_for_consent_then_logs_in_as_library(server, browser):
    authorize(server, browser, login_hint="library")
    library = browser.get(f"{server.url}/library")
    assert "Install Roster Room" in library.text and 'action="/library/install"' in library.text
    consent = browser.get(f"{server.url}/library/install")
    assert "Share your classes with Roster Room?" in consent.text
    assert "Allow" in consent.text and "Deny" in consent.text
    denied = browser.post(
        f"{server.url}/library/install", data={"decision": "deny"}, allow_redirects=False
    )
    assert denied.headers["Location"].startswith("/library")
    allowed = browser.post(
        f"{server.url}/library/install", data={"decision": "allow"}, allow_redirects=False
    )
    assert allowed.headers["Location"].startswith(PRIMARY + "?")
    assert set(query_of(allowed.headers["Location"])) == {"code"}
    token = exchange(server, code_from(allowed)).json()["access_token"]
    me = api(server, token, "/v3.0/me").json()
    assert me["data"]["authorized_by"] == "teacher" and "district" not in me["data"]


def test_library_page_tells_students_only_teachers_install(server, browser):
    authorize(server, browser, login_hint="mateo")
    page = browser.get(f"{server.url}/library")
    assert "Only teachers can install" in page.text and "Install Roster Room" not in page.text


def test_home_page_links_everything(server, browser):
    page = browser.get(server.url + "/")
    assert page.status_code == 200
    for href in ("/oauth/authorize?", "/portal", "/library", "/oauth/instant-login?"):
        assert f'href="{href}' in page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")


# -- Data API: paging -----------------------------------------------------------------------


def test_paging_the_big_section_returns_every_student_once(server):
    token = server.district_token()
    path = f"/v3.0/sections/{seed.BIG_SECTION_ID}/users"
    body = api(server, token, path, role="student", limit=50).json()
    assert link(body, "self") == f"{path}?role=student&limit=50"
    assert link(body, "prev") is None
    pages = [body]
    while link(pages[-1], "next"):
        uri = link(pages[-1], "next")
        assert uri.startswith(f"{path}?role=student&limit=50&starting_after=")
        pages.append(api(server, token, uri).json())
    seen = [uid for page in pages for uid in ids(page)]
    assert [len(ids(page)) for page in pages] == [50, 50, 35]
    assert len(seen) == len(set(seen)) == 135
    assert seen == sorted(seen) == seed.student_ids_in(seed.BIG_SECTION_ID)

    # prev from page 2 is page 1; walking prev from the last page covers everything again.
    assert ids(api(server, token, link(pages[1], "prev")).json()) == ids(pages[0])
    back, page = ids(pages[-1]), pages[-1]
    while link(page, "prev"):
        page = api(server, token, link(page, "prev")).json()
        assert link(page, "next")  # an ending_before page always offers next (PAGING)
        back = ids(page) + back
    assert back == seen


def test_paging_limits(server):
    token = server.district_token()
    path = f"/v3.0/sections/{seed.BIG_SECTION_ID}/users"
    default = api(server, token, path, role="student").json()
    assert len(default["data"]) == 100 and link(default, "next")
    everything = api(server, token, path, role="student", limit=10000).json()
    assert len(everything["data"]) == 135 and link(everything, "next") is None
    too_big = api(server, token, path, limit=10001)
    assert too_big.status_code == 413 and "message" in too_big.json()
    for bad in ("0", "-1", "ten"):
        assert api(server, token, path, limit=bad).status_code == 400


def test_empty_last_page_mode(server):
    server.configure(empty_last_page=True)
    token = server.district_token()
    assert api(server, token, f"/v3.0/users/{seed.ZOE_ID}/sections").json() == {
        "data": [],
        "links": [{"rel": "self", "uri": f"/v3.0/users/{seed.ZOE_ID}/sections"}],
    }
    first = api(server, token, f"/v3.0/users/{seed.NOEMAIL_TEACHER_ID}/sections").json()
    assert len(first["data"]) == 2
    last = api(server, token, link(first, "next")).json()
    assert last["data"] == [] and link(last, "prev") and link(last, "next") is None
    # User tokens never page, so they never get a `next` link, even in this mode.
    library = server.issue_token("library")
    whole = api(server, library, f"/v3.0/users/{seed.LIBRARY_TEACHER_ID}/sections").json()
    assert len(whole["data"]) == 3 and [x["rel"] for x in whole["links"]] == ["self"]


def test_user_tokens_get_whole_lists_and_cannot_page(server):
    token = server.issue_token("library")
    section_id = seed.LIBRARY_SECTION_IDS[1]
    path = f"/v3.0/sections/{section_id}/users"
    whole = api(server, token, path)
    assert whole.status_code == 200
    body = whole.json()
    assert ids(body) == sorted([seed.LIBRARY_TEACHER_ID, *seed.student_ids_in(section_id)])
    assert body["links"] == [{"rel": "self", "uri": path}]
    for params in ({"limit": "10"}, {"limit": "1000"}, {"starting_after": "0"},
                   {"ending_before": "f"}, {"limit": ""}):  # fmt: skip
        refused = api(server, token, path, **params)
        assert refused.status_code == 400, params
        assert "district-app tokens" in refused.json()["message"]
    # A district login's user token cannot page either (it cannot list anything at all).
    ana = server.issue_token("ana")
    assert api(server, ana, f"/v3.0/users/{seed.ANA_ID}", limit=5).status_code == 400


# -- Data API: rate limit -------------------------------------------------------------------


def test_the_1201st_request_in_a_minute_is_rate_limited(server):
    token, other = server.issue_token("ana"), server.issue_token("devon")
    with requests.Session() as session:
        statuses = [api(server, token, "/v3.0/me", session).status_code for _ in range(1200)]
        assert statuses == [200] * 1200
        limited = api(server, token, "/v3.0/me", session)
        assert limited.status_code == 429
        assert "message" in limited.json()
        reset_at = int(limited.headers["X-RateLimit-Reset"])
        assert time.time() < reset_at <= time.time() + 61
        assert api(server, other, "/v3.0/me", session).status_code == 200  # per token
        server.set_clock(61)  # the window is over
        assert api(server, token, "/v3.0/me", session).status_code == 200


def test_the_rate_limit_is_configurable(server):
    server.set_rate_limit(3)
    token = server.issue_token("ana")
    assert [api(server, token, "/v3.0/me").status_code for _ in range(4)] == [200] * 3 + [429]
    server.reset()
    token = server.issue_token("ana")
    assert [api(server, token, "/v3.0/me").status_code for _ in range(4)] == [200] * 4


# -- Data API: tokens and scopes ------------------------------------------------------------

SCOPE = {"message": "Resource not in token's scopes"}


def test_user_tokens_expire_after_two_hours_by_default(server):
    token, district = server.issue_token("ana"), server.district_token()
    server.set_clock(2 * 3600 - 5)
    assert api(server, token, "/v3.0/me").status_code == 200
    server.set_clock(2 * 3600)
    expired = api(server, token, "/v3.0/me")
    assert expired.status_code == 401
    assert expired.json() == {"message": "Your OAuth2 token is incorrect or has expired"}
    # The district-app token does not expire; a fresh user token works again.
    assert api(server, district, f"/v3.0/users/{seed.ANA_ID}/sections").status_code == 200
    assert api(server, server.issue_token("ana"), "/v3.0/me").status_code == 200
    server.set_user_token_lifetime(60)
    assert api(server, token, "/v3.0/me").status_code == 401
    server.set_clock(0)
    short = server.issue_token("library")
    server.set_clock(61)
    assert api(server, short, "/v3.0/me").status_code == 401


def test_a_replayed_code_revokes_the_token_issued_for_it(server, browser):
    code = code_from(authorize(server, browser, login_hint="library"))
    token = exchange(server, code).json()["access_token"]
    assert api(server, token, "/v3.0/me").status_code == 200
    replay = exchange(server, code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert api(server, token, "/v3.0/me").status_code == 401  # RFC 6749 section 4.1.2
    other = exchange(server, code_from(authorize(server, browser))).json()["access_token"]
    assert api(server, other, "/v3.0/me").status_code == 200  # only that code's token


def test_missing_or_unknown_token(server):
    expected = {"message": "Your OAuth2 token is incorrect or has expired"}
    assert requests.get(f"{server.url}/v3.0/me").json() == expected
    response = api(server, "not-a-token", "/v3.0/me")
    assert response.status_code == 401 and response.json() == expected
    token = server.issue_token("ana")
    server.reset()  # tokens do not survive a reset
    assert api(server, token, "/v3.0/me").status_code == 401


def test_a_district_login_token_reaches_me_userinfo_its_user_and_district_only(server):
    token = server.issue_token("ana")
    me = api(server, token, "/v3.0/me").json()
    assert me["data"]["district"] == seed.DISTRICT_ID and me["data"]["authorized_by"] == "district"
    assert {"rel": "district", "uri": f"/v3.0/districts/{seed.DISTRICT_ID}"} in me["links"]
    assert api(server, token, "/me").status_code == 200
    assert api(server, token, "/userinfo").json()["authorized_by"] == "district"
    assert api(server, token, f"/v3.0/users/{seed.ANA_ID}").json()["data"]["roles"]["teacher"]
    assert api(server, token, f"/v3.0/districts/{seed.DISTRICT_ID}").status_code == 200
    robotics = seed.section_ids_for(seed.ANA_ID)[2]
    for path in (
        f"/v3.0/users/{seed.ANA_ID}/sections",
        f"/v3.0/users/{seed.ANA_ID}/mystudents",
        f"/v3.0/users/{seed.ANA_ID}/schools",
        f"/v3.0/users/{seed.ANA_ID}/district",
        f"/v3.0/users/{seed.DEVON_ID}",
        f"/v3.0/sections/{seed.BIG_SECTION_ID}",
        f"/v3.0/sections/{robotics}/users",
        f"/v3.0/schools/{seed.CEDAR_ID}",
        f"/v3.0/terms/{seed.TERM_ID}",
        f"/v3.0/courses/{seed.course_id('Grade 4 Math')}",
        f"/v3.0/districts/{seed.LIBRARY_DISTRICT_ID}",
        "/v3.0/sections",
        "/v3.0/users/nobody",
    ):
        response = api(server, token, path)
        assert response.status_code == 404 and response.json() == SCOPE, path
    log = server.requests_log(kind="api")
    assert {e["token_kind"] for e in log} == {"district_user"}
    assert sum(e["out_of_scope"] for e in log) == 13


def test_district_app_token_reads_its_whole_district(server):
    token = server.district_token()
    mine = api(server, token, f"/v3.0/users/{seed.ANA_ID}/sections").json()
    assert ids(mine) == seed.section_ids_for(seed.ANA_ID) and len(ids(mine)) == 13
    robotics = next(s["data"] for s in mine["data"] if s["data"]["teacher"] == seed.DEVON_ID)
    assert seed.ANA_ID in robotics["teachers"]  # co-teacher, seen from Ana's side
    teachers = api(server, token, f"/v3.0/sections/{robotics['id']}/users", role="teacher").json()
    assert ids(teachers) == sorted([seed.ANA_ID, seed.DEVON_ID])
    everyone = api(server, token, f"/v3.0/sections/{robotics['id']}/users").json()
    assert len(ids(everyone)) == 2 + 12
    # Every district section has a course and a term the token can read; so are schools.
    for element in mine["data"]:
        section = element["data"]
        assert section["course"] and section["term_id"] and section["school"]
        course = api(server, token, f"/v3.0/courses/{section['course']}").json()["data"]
        assert course["name"] and course["district"] == seed.DISTRICT_ID
    term = api(server, token, f"/v3.0/terms/{seed.TERM_ID}").json()["data"]
    assert term["name"] == "2024-25 Full Year"
    assert api(server, token, f"/v3.0/schools/{seed.BIRCH_ID}").json()["data"]["name"]
    assert api(server, token, f"/v3.0/users/{seed.DEVON_ID}").status_code == 200
    assert api(server, token, f"/v3.0/users/{seed.MATEO_ID}/myteachers").status_code == 200
    students = api(server, token, f"/v3.0/users/{seed.ANA_ID}/mystudents", limit=500).json()
    assert len(ids(students)) > 135
    assert api(server, token, "/v3.0/me").json()["data"] == {
        "id": seed.DISTRICT_ID,
        "type": "district",
    }
    assert api(server, token, "/userinfo").json() == SCOPE
    schools = api(server, token, "/v3.0/schools").json()
    assert ids(schools) == sorted([seed.CEDAR_ID, seed.BIRCH_ID])
    assert len(ids(api(server, token, "/v3.0/users", role="teacher", limit=1000).json())) == 6
    assert len(ids(api(server, token, "/v3.0/sections", limit=1000).json())) == 18
    # Nothing of another district.
    for path in (
        f"/v3.0/sections/{seed.LIBRARY_SECTION_IDS[0]}",
        f"/v3.0/users/{seed.LIBRARY_TEACHER_ID}",
        f"/v3.0/users/{seed.LIBRARY_TEACHER_ID}/sections",
        f"/v3.0/schools/{seed.LAKEVIEW_SCHOOL_ID}",
        f"/v3.0/terms/{seed.LAKEVIEW_TERM_ID}",
        f"/v3.0/districts/{seed.LIBRARY_DISTRICT_ID}",
    ):
        assert api(server, token, path).json() == SCOPE, path


def test_the_district_app_token_list(server):
    listed = requests.get(
        f"{server.url}/oauth/tokens",
        params={"owner_type": "district"},
        auth=(server.client_id, server.client_secret),
        timeout=10,
    )
    assert listed.status_code == 200 and listed.headers["Cache-Control"] == "no-store"
    (row,) = listed.json()["data"]
    assert row["owner"] == {"type": "district", "id": seed.DISTRICT_ID}
    assert row["access_token"] and row["id"] and row["created"] and row["scopes"]
    assert listed.json()["links"] == [{"rel": "self", "uri": "/oauth/tokens?owner_type=district"}]
    for auth in (None, (server.client_id, "wrong"), ("someone-else", server.client_secret)):
        refused = requests.get(
            f"{server.url}/oauth/tokens", params={"owner_type": "district"}, auth=auth, timeout=10
        )
        assert refused.status_code == 401 and refused.json() == {"error": "invalid_client"}
    other = requests.get(
        f"{server.url}/oauth/tokens",
        params={"owner_type": "user"},
        auth=(server.client_id, server.client_secret),
        timeout=10,
    )
    assert other.status_code == 400
    log = server.requests_log(kind="token_list")
    assert len(log) == 5 and row["access_token"] not in json.dumps(server.requests_log())
    assert server.count("token") == 0  # token exchanges are counted apart


def test_connect_and_disconnect_a_district(server, browser):
    library_token = server.issue_token("library")
    assert set(server.district_tokens()) == {seed.DISTRICT_ID}
    assert server.connect_district() == {
        "op": "connect_district",
        "district_id": seed.LIBRARY_DISTRICT_ID,
        "connected": True,
        "rosters": True,
    }
    lakeview = server.district_token(seed.LIBRARY_DISTRICT_ID)
    # District authorization now takes precedence: Hana logs in as a district user.
    code = code_from(authorize(server, browser, login_hint="library"))
    token = exchange(server, code).json()["access_token"]
    me = api(server, token, "/v3.0/me").json()["data"]
    assert me["authorized_by"] == "district" and me["district"] == seed.LIBRARY_DISTRICT_ID
    hana_sections = f"/v3.0/users/{seed.LIBRARY_TEACHER_ID}/sections"
    assert api(server, token, hana_sections).json() == SCOPE
    sections = api(server, lakeview, hana_sections, limit=1000).json()
    assert ids(sections) == sorted(seed.LIBRARY_SECTION_IDS)  # the same classes, same ids
    assert all(s["data"]["term_id"] and s["data"]["course"] for s in sections["data"])
    # The token issued before the switch keeps the Library scope it was issued with.
    assert api(server, library_token, hana_sections).status_code == 200
    # A student of hers is a district login too now.
    student_token = server.issue_token("library_student")
    assert api(server, student_token, "/v3.0/me").json()["data"]["authorized_by"] == "district"

    server.disconnect_district()
    assert api(server, lakeview, hana_sections).status_code == 401
    assert set(server.district_tokens()) == {seed.DISTRICT_ID}
    again = api(server, server.issue_token("library"), "/v3.0/me").json()["data"]
    assert again["authorized_by"] == "teacher"

    # Connected for SSO only: district logins, but no district-app token to read rosters.
    sso_only = server.connect_district(rosters=False)
    assert sso_only["connected"] is True and sso_only["rosters"] is False
    assert set(server.district_tokens()) == {seed.DISTRICT_ID}
    me = api(server, server.issue_token("library"), "/v3.0/me").json()["data"]
    assert me["authorized_by"] == "district"
    # Reconnecting issues a new district-app token; the old one stops working.
    maple = server.district_token()
    server.connect_district(seed.DISTRICT_ID)
    assert api(server, maple, "/v3.0/me").status_code == 401
    assert api(server, server.district_token(), "/v3.0/me").status_code == 200
    with pytest.raises(RuntimeError, match="unknown district"):
        server.connect_district("0" * 24)
    server.reset()
    assert set(server.district_tokens()) == {seed.DISTRICT_ID}


def test_co_teacher_sees_shared_sections_from_the_other_side(server):
    district = server.district_token()
    sections = api(server, district, f"/v3.0/users/{seed.DEVON_ID}/sections").json()["data"]
    co_taught = [s["data"] for s in sections if s["data"]["teacher"] == seed.ANA_ID]
    assert len(co_taught) >= 2 and len(sections) == 4
    token = server.issue_token("devon")
    user = api(server, token, f"/v3.0/users/{seed.DEVON_ID}").json()["data"]
    assert set(user["roles"]) == {"teacher", "staff"}


def test_district_student(server):
    token = server.issue_token("mateo")
    user = api(server, token, f"/v3.0/users/{seed.MATEO_ID}").json()["data"]
    assert "email" not in user and user["roles"]["student"]["grade"] == "4"
    mine = seed.section_ids_for(seed.MATEO_ID)
    assert api(server, token, f"/v3.0/users/{seed.MATEO_ID}/sections").json() == SCOPE
    assert api(server, token, f"/v3.0/sections/{mine[0]}").json() == SCOPE
    assert api(server, token, f"/v3.0/users/{seed.ANA_ID}").json() == SCOPE
    # The district-app token reads the student's classes and their teachers.
    district = server.district_token()
    assert ids(api(server, district, f"/v3.0/users/{seed.MATEO_ID}/sections").json()) == mine
    teachers: set[str] = set()
    for section_id in mine:
        body = api(server, district, f"/v3.0/sections/{section_id}/users", role="teacher").json()
        teachers.update(ids(body))
    assert len(teachers) == 4


def test_library_teacher_sees_initials_and_no_district(server):
    token = server.issue_token("library")
    me = api(server, token, "/v3.0/me").json()
    assert me["data"]["authorized_by"] == "teacher" and "district" not in me["data"]
    assert all(x["rel"] != "district" for x in me["links"])
    info = api(server, token, "/userinfo").json()
    assert info["authorized_by"] == "teacher" and "district" not in info
    user = api(server, token, f"/v3.0/users/{seed.LIBRARY_TEACHER_ID}").json()["data"]
    assert user["roles"] == {"teacher": {}} and "district" not in user and user["email"]
    sections = api(server, token, f"/v3.0/users/{seed.LIBRARY_TEACHER_ID}/sections").json()
    assert len(sections["data"]) == 3
    for element in sections["data"]:
        section = element["data"]
        assert not {"district", "school", "course", "term_id", "sis_id"} & set(section)
        students = api(server, token, f"/v3.0/sections/{section['id']}/users", role="student")
        roster = [s["data"] for s in students.json()["data"]]
        assert 15 <= len(roster) <= 25
        for student in roster:
            assert set(student) == {"id", "name", "roles"}
            assert set(student["name"]) == {"first", "last"} and len(student["name"]["last"]) == 1
            assert student["roles"] == {"student": {"grade": "7"}}
    one = roster[0]["id"]
    assert api(server, token, f"/v3.0/users/{one}").json()["data"] == roster[0]
    for path in (
        f"/v3.0/districts/{seed.LIBRARY_DISTRICT_ID}",
        f"/v3.0/schools/{seed.LAKEVIEW_SCHOOL_ID}",
        f"/v3.0/terms/{seed.LAKEVIEW_TERM_ID}",
        f"/v3.0/sections/{seed.LIBRARY_SECTION_IDS[0]}/term",
        f"/v3.0/users/{seed.LIBRARY_TEACHER_ID}/district",
        "/v3.0/sections",
    ):
        assert api(server, token, path).json() == SCOPE, path
    assert api(server, token, f"/v3.0/sections/{seed.BIG_SECTION_ID}").json() == SCOPE
    assert {e["token_kind"] for e in server.requests_log(kind="api")} == {"library_user"}


def test_library_student(server):
    token = server.issue_token("library_student")
    me = api(server, token, "/v3.0/me").json()["data"]
    assert me == {"id": seed.LIBRARY_STUDENT_ID, "type": "user", "authorized_by": "teacher"}
    sections = api(server, token, f"/v3.0/users/{seed.LIBRARY_STUDENT_ID}/sections").json()
    assert len(sections["data"]) == 1
    section_id = sections["data"][0]["data"]["id"]
    teachers = api(server, token, f"/v3.0/sections/{section_id}/users", role="teacher").json()
    assert ids(teachers) == [seed.LIBRARY_TEACHER_ID]
    # Students see who teaches their class, never their classmates.
    for params in ({"role": "student"}, {}):
        classmates = api(server, token, f"/v3.0/sections/{section_id}/users", **params)
        assert classmates.status_code == 404 and classmates.json() == SCOPE


def test_personas_match_their_descriptions(server):
    persona = seed.PERSONAS
    assert len(seed.section_ids_for(persona["ana"].user_id)) == 13
    assert seed.section_ids_for(persona["zoe"].user_id) == []
    assert len(seed.student_ids_in(seed.BIG_SECTION_ID)) == 135
    assert "Grade 4 Math" in seed.seeded_section(seed.BIG_SECTION_ID)["name"]
    assert 110 <= len(persona["siobhan"].name) <= 130
    for key in ("mateo", "siobhan", "noemail_teacher"):
        assert "email" not in seed.seeded_user(persona[key].user_id)
    for key in ("ana", "library"):
        assert seed.seeded_user(persona[key].user_id)["email"]
    assert set(seed.seeded_user(persona["priya"].user_id)["roles"]) == {"district_admin"}
    assert set(seed.seeded_user(persona["guardian"].user_id)["roles"]) == {"contact"}
    assert len(seed.section_ids_for(persona["noemail_teacher"].user_id)) == 2
    assert seed.LIBRARY_SECTION_IDS[0] in seed.section_ids_for(seed.LIBRARY_STUDENT_ID)
    token = server.issue_token("guardian")
    user = api(server, token, f"/v3.0/users/{seed.GUARDIAN_ID}").json()["data"]
    assert list(user["roles"]) == ["contact"]


# -- control API: mutations, log, reset, production -----------------------------------------


def test_mutations_show_up_in_the_api(server):
    token = server.district_token()
    sections_path = f"/v3.0/users/{seed.ANA_ID}/sections"
    victim = seed.section_ids_for(seed.ANA_ID)[1]
    server.mutate("remove_section", section_id=victim)
    assert victim not in ids(api(server, token, sections_path).json())
    assert api(server, token, f"/v3.0/sections/{victim}").status_code == 404
    server.mutate("restore_section", section_id=victim)
    assert victim in ids(api(server, token, sections_path).json())

    student = seed.student_ids_in(victim)[0]
    users_path = f"/v3.0/sections/{victim}/users"
    server.mutate("remove_student", section_id=victim, user_id=student)
    assert student not in ids(api(server, token, users_path, role="student").json())
    server.mutate("add_student", section_id=victim, user_id=student)
    assert student in ids(api(server, token, users_path, role="student").json())

    server.mutate("rename_section", section_id=victim, name="Renamed ✓")
    assert api(server, token, f"/v3.0/sections/{victim}").json()["data"]["name"] == "Renamed ✓"
    server.mutate("rename_user", user_id=seed.ANA_ID, first="Anabel", last="Núñez-Peña")
    server.mutate("set_email", user_id=seed.ANA_ID, email=None)
    user = api(server, token, f"/v3.0/users/{seed.ANA_ID}").json()["data"]
    assert user["name"] == {"first": "Anabel", "last": "Núñez-Peña"} and "email" not in user
    server.mutate("set_email", user_id=seed.ANA_ID, email="anabel@example.org")
    assert api(server, token, f"/v3.0/users/{seed.ANA_ID}").json()["data"]["email"] == (
        "anabel@example.org"
    )
    with pytest.raises(RuntimeError, match="unknown op"):
        server.mutate("explode")
    with pytest.raises(RuntimeError, match="unknown section"):
        server.mutate("remove_section", section_id="nope")


def test_reset_restores_everything(server, browser):
    authorize(server, browser, login_hint="ana")
    server.mutate("remove_section", section_id=seed.BIG_SECTION_ID)
    server.add_fault(path="/nowhere", status=500)
    server.set_clock(3600)
    server.set_rate_limit(1)
    server.reset()
    assert server.faults() == [] and server.requests_log() == []
    token = server.district_token()
    assert seed.BIG_SECTION_ID in ids(
        api(server, token, f"/v3.0/users/{seed.ANA_ID}/sections").json()
    )
    assert api(server, token, "/v3.0/me").status_code == 200  # rate limit back to 1200
    code = code_from(authorize(server, browser))  # the persona cookie still works
    assert exchange(server, code).status_code == 200  # clock back to now


def test_request_log_records_hashes_never_secrets(server, browser):
    response = authorize(server, browser, login_hint="mateo", state="st")
    code = code_from(response)
    token = exchange(server, code).json()["access_token"]
    api(server, token, f"/v3.0/users/{seed.MATEO_ID}", fields="name")
    log = server.requests_log()
    assert [e["kind"] for e in log] == ["authorize", "token", "api"]
    auth_entry, token_entry, api_entry = log
    assert auth_entry["code_hash"] == short_hash(code) == token_entry["code_hash"]
    assert auth_entry["query"]["state"] == "st" and auth_entry["status"] == 302
    assert token_entry["user_id"] == seed.MATEO_ID and token_entry["status"] == 200
    assert token_entry["redirect_uri"] == PRIMARY
    assert api_entry["token_hash"] == short_hash(token)
    assert api_entry["query"] == {"fields": "name"} and api_entry["user_id"] == seed.MATEO_ID
    assert api_entry["token_kind"] == "district_user" and api_entry["out_of_scope"] is False
    assert all(isinstance(e["time"], float) for e in log)
    dumped = json.dumps(log)
    assert code not in dumped and token not in dumped
    assert server.count("token") == 1 and server.count("api") == 1
    assert server.requests_log(path_prefix="/v3.0/") == [api_entry]
    server.clear_log()
    assert server.requests_log() == []


def test_control_api_and_login_hint_are_off_in_production(browser):
    with SandboxServer(mode="production") as prod:
        for method, path in (("POST", "/reset"), ("GET", "/requests"), ("POST", "/faults")):
            assert browser.request(method, f"{prod.url}/__sandbox__{path}").status_code == 404
        picker = authorize(prod, browser, login_hint="ana")
        assert picker.status_code == 200 and "Log in as" in picker.text
        assert "control API is off" in browser.get(prod.url + "/").text


def test_control_api_rejects_bad_input(server):
    for spec in ({"path": "*", "status": "500"}, {"path": "*", "bogus": 1}, {"status": 500},
                 {"path": "*", "times": 0}, {"path": "*", "status": True}):  # fmt: skip
        response = requests.post(f"{server.url}/__sandbox__/faults", json=spec)
        assert response.status_code == 400, spec
    assert (
        requests.post(f"{server.url}/__sandbox__/config", json={"rate_limit": 0}).status_code == 400
    )
    assert (
        requests.post(f"{server.url}/__sandbox__/tokens", json={"persona": "x"}).status_code == 400
    )
    assert requests.post(f"{server.url}/__sandbox__/codes", json={"persona": "ana",
                         "redirect_uri": "https://evil.example/"}).status_code == 400  # fmt: skip


# -- faults ---------------------------------------------------------------------------------


def test_fault_status_body_headers_and_times(server):
    token = server.district_token()
    server.add_fault(path="/v3.0/sections/*/users", status=503, headers={"X-Test": "1"}, times=2)
    path = f"/v3.0/sections/{seed.BIG_SECTION_ID}/users"
    first, second, third = (api(server, token, path) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.json() == {"message": "service unavailable"} and first.headers["X-Test"] == "1"
    assert server.faults() == []
    server.add_fault(path="/v3.0/me", status=500, body={"message": "boom"}, method="POST")
    assert api(server, token, "/v3.0/me").status_code == 200  # method filter
    server.add_fault(path="/v3.0/me", status=502, body="<<not json>>")
    broken = api(server, token, "/v3.0/me")
    assert broken.status_code == 502 and broken.text == "<<not json>>"
    log = server.requests_log(path_prefix="/v3.0/me")
    assert log[-1]["fault"] and log[-1]["status"] == 502


def test_fault_delay(server):
    server.add_fault(path="/v3.0/me", delay=0.4, times=1)
    token = server.issue_token("ana")
    started = time.monotonic()
    assert api(server, token, "/v3.0/me").status_code == 200
    assert time.monotonic() - started >= 0.4


def test_request_log_says_when_each_answer_left_after_its_delay(server):
    # Two calls sent together, then one sent after both answers: the log's `time` and `ended`
    # tell the two apart (tests/waves.py counts waves from them), with the delay inside.
    token = server.issue_token("ana")
    server.add_fault(path="/v3.0/me", delay=0.3, times=2)
    together = [threading.Thread(target=api, args=(server, token, "/v3.0/me")) for _ in range(2)]
    for thread in together:
        thread.start()
    for thread in together:
        thread.join()
    sent_at = server.state.now()
    assert api(server, token, f"/v3.0/users/{seed.ANA_ID}").status_code == 200
    first, second, after = server.requests_log(kind="api")
    for delayed in (first, second):
        assert delayed["ended"] - delayed["time"] >= 0.3 and delayed["fault"]
        assert delayed["ended"] < sent_at < after["time"] <= after["ended"]
    assert first["time"] < second["ended"] and second["time"] < first["ended"]
    assert wave_numbers([first, second, after]) == [1, 1, 2]


def test_fault_drop_closes_the_connection(server):
    token = server.issue_token("ana")
    server.add_fault(path="/v3.0/me", drop=True, times=1)
    with pytest.raises(requests.ConnectionError):
        api(server, token, "/v3.0/me")
    assert api(server, token, "/v3.0/me").status_code == 200
    assert server.requests_log(path_prefix="/v3.0/me")[0]["status"] is None
    server.add_fault(path="/oauth/tokens", drop=True, times=1)
    with pytest.raises(requests.ConnectionError):
        exchange(server, server.issue_code("ana"))


def test_fault_html_body(server):
    token = server.issue_token("ana")
    server.add_fault(path="/v3.0/*", html=True, status=401, times=1)
    response = api(server, token, "/v3.0/me")
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()
    server.add_fault(path="/v3.0/*", html=True, times=1)
    assert api(server, token, "/v3.0/me").status_code == 200


def test_fault_truncate(server):
    token = server.issue_token("ana")
    full = api(server, token, f"/v3.0/users/{seed.ANA_ID}").content
    server.add_fault(path="/v3.0/users/*", truncate=True, times=1)
    cut = api(server, token, f"/v3.0/users/{seed.ANA_ID}")
    assert cut.status_code == 200 and cut.headers["Content-Type"] == "application/json"
    assert full.startswith(cut.content) and 0 < len(cut.content) < len(full)
    with pytest.raises(requests.exceptions.JSONDecodeError):
        cut.json()


def test_fault_at_page(server):
    token = server.district_token()
    server.add_fault(path="/v3.0/sections/*/users", at_page=2, status=500, times=1)
    path = f"/v3.0/sections/{seed.BIG_SECTION_ID}/users"
    page1 = api(server, token, path, role="student", limit=50)
    assert page1.status_code == 200
    page2 = api(server, token, link(page1.json(), "next"))
    assert page2.status_code == 500
    retried = api(server, token, link(page1.json(), "next"))
    assert retried.status_code == 200
    page3 = api(server, token, link(retried.json(), "next"))
    assert page3.status_code == 200 and len(page3.json()["data"]) == 35
    assert api(server, token, path, role="student", limit=50).status_code == 200


def test_fault_rate_storm(server):
    token = server.issue_token("ana")
    server.add_fault(path="/v3.0/me", rate_storm=3)
    responses = [api(server, token, "/v3.0/me") for _ in range(4)]
    assert [r.status_code for r in responses] == [429, 429, 429, 200]
    for response in responses[:3]:
        assert int(response.headers["X-RateLimit-Reset"]) - time.time() <= 2
        assert "message" in response.json()


def test_fault_on_the_token_endpoint(server):
    server.add_fault(path="/oauth/tokens", status=500, times=1)
    code = server.issue_code("ana")
    assert exchange(server, code).status_code == 500
    assert exchange(server, code).status_code == 200  # the fault fired before the code was used


def test_issue_code_control_endpoint_gives_a_clever_initiated_code(server):
    code = server.issue_code("mateo")
    token = exchange(server, code).json()["access_token"]
    assert api(server, token, "/v3.0/me").json()["data"]["id"] == seed.MATEO_ID
    verifier, challenge = pkce_pair()
    code = server.issue_code("ana", redirect_uri=SECONDARY, code_challenge=challenge)
    assert exchange(server, code, redirect_uri=SECONDARY, code_verifier=verifier).ok


# -- running it -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_python_dash_m_clever_sandbox_starts(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "development",
        "CLEVER_CLIENT_ID": "cli-client",
        "CLEVER_CLIENT_SECRET": "cli-secret",
        "CLEVER_REDIRECT_URI": "http://127.0.0.1:7001/cb, http://127.0.0.1:7001/other",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "clever.sandbox", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                home = requests.get(base + "/", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, "the sandbox exited"
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        assert home.status_code == 200 and "cli-client" in home.text
        launch = requests.get(
            base + "/portal/launch", params={"login_hint": "ana"}, allow_redirects=False
        )
        assert launch.headers["Location"].startswith("http://127.0.0.1:7001/cb?code=")
        code = query_of(launch.headers["Location"])["code"]
        token = requests.post(
            base + "/oauth/tokens",
            auth=("cli-client", "cli-secret"),
            data={
                "code": code,
                "grant_type": "authorization_code",
                "redirect_uri": "http://127.0.0.1:7001/cb",
            },  # fmt: skip
            timeout=5,
        )
        assert token.status_code == 200
        assert requests.get(base + "/__sandbox__/config", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
