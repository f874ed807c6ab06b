"""Log in with Clever from every entry point, over real HTTP against the sandbox."""

from __future__ import annotations

import html
import logging
import re
import threading
from urllib.parse import parse_qs, urlsplit

import requests

from clever.sandbox import seed
from clever.sessions import SESSION_KEY_PREFIX
from clever.tokens import load_token
from models import CleverToken, User, db


def identity(page) -> str | None:
    """Who the page's identity banner says is logged in."""
    found = re.search(r'data-testid="identity-name">([^<]*)<', page.text)
    return html.unescape(found.group(1)) if found else None


def sid_of(client) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def token_exchanges(sandbox) -> list[dict]:
    return sandbox.requests_log(kind="token")


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_our_button_logs_in_with_state_and_pkce(flow, sandbox, app):
    page = flow.login_with_button("ana")
    assert page.status == 200
    assert identity(page) == "Ana Núñez"
    authorize = [p for p in flow.visited if "/oauth/authorize" in p.url][-1]
    params = query_of(authorize.url)
    assert len(params["state"]) >= 43
    assert params["code_challenge_method"] == "S256"
    assert len(token_exchanges(sandbox)) == 1
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(clever_id=seed.ANA_ID))
        assert user.role == "teacher"


def test_portal_launch_never_exchanges_the_stateless_code(flow, sandbox):
    flow.sign_in_to_clever("ana")
    flow.go(f"{sandbox.url}/portal/launch")
    callbacks = [p for p in flow.visited if "/auth/clever/callback" in p.url]
    stateless, stateful = callbacks[0], callbacks[-1]
    assert "state" not in query_of(stateless.url)
    assert "state" in query_of(stateful.url)
    # The portal's code reached us, yet only the code we asked for with our own state was
    # exchanged: exactly one token request, and for the second code.
    exchanges = token_exchanges(sandbox)
    assert len(exchanges) == 1
    assert identity(flow.visited[-1]) == "Ana Núñez"


def test_instant_login_link(flow, sandbox):
    flow.sign_in_to_clever("devon")
    page = flow.go(
        f"{sandbox.url}/oauth/instant-login?client_id=clever-library-demo&district_id={seed.DISTRICT_ID}"
    )
    assert identity(page) == "Devon O'Hara"
    assert len(token_exchanges(sandbox)) == 1


def test_library_install_logs_the_teacher_in(flow, sandbox, app):
    flow.sign_in_to_clever("library")
    library = flow.go(f"{sandbox.url}/library")
    assert library.status == 200
    consent = flow.go_form(library, button_text="Install")
    page = flow.go_form(consent, button_text="Allow")
    assert identity(page) is not None
    stateless = [p for p in flow.visited if "/auth/clever/callback" in p.url][0]
    assert "state" not in query_of(stateless.url)
    assert len(token_exchanges(sandbox)) == 1
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(clever_id=seed.LIBRARY_TEACHER_ID))
        assert user is not None and user.authorized_by == "teacher"


def test_student_launch_from_the_portal(flow, sandbox, app):
    page = flow.portal_launch("mateo")
    assert page.url.endswith("/dashboard")
    assert identity(page) == "Mateo Ramírez"
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(clever_id=seed.MATEO_ID))
        assert user.role == "student"
        assert user.email is None


def test_staff_and_district_admins_get_the_teacher_experience(flow, app):
    flow.login_with_button("priya")
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(clever_id=seed.PRIYA_ID))
        assert user.role == "teacher"
        assert user.role_label == "District admin"


def test_a_later_login_updates_name_and_email_from_clever(flow, sandbox, app, client):
    flow.login_with_button("ana")
    sandbox.mutate("rename_user", user_id=seed.ANA_ID, first="Anabel", last="Núñez-Peña")
    sandbox.mutate("set_email", user_id=seed.ANA_ID, email=None)
    client.post("/logout")
    page = flow.go("/auth/clever/login")
    assert identity(page) == "Anabel Núñez-Peña"
    with app.app_context():
        users = db.session.scalars(db.select(User).filter_by(clever_id=seed.ANA_ID)).all()
        assert len(users) == 1
        assert users[0].first_name == "Anabel" and users[0].email is None


def test_a_refreshed_callback_is_not_exchanged_twice(flow, sandbox):
    flow.login_with_button("ana")
    callback = [p for p in flow.visited if "state=" in p.url and "/auth/clever/callback" in p.url][
        -1
    ]
    again = flow.fetch(callback.url)
    assert again.status == 302 and again.headers["Location"].endswith("/")
    assert len(token_exchanges(sandbox)) == 1


def test_a_callback_replayed_in_another_browser_logs_nobody_in(flow, sandbox, app):
    flow.login_with_button("ana")
    callback = [p for p in flow.visited if "state=" in p.url and "/auth/clever/callback" in p.url][
        -1
    ]
    other = app.test_client()
    response = other.get(urlsplit(callback.url).path + "?" + urlsplit(callback.url).query)
    # Unknown state in that browser: one fresh authorization, never a second exchange.
    assert response.status_code == 302
    assert "/oauth/authorize" in response.headers["Location"]
    assert other.get("/dashboard").status_code == 302
    assert len(token_exchanges(sandbox)) == 1


def test_code_replayed_concurrently_is_exchanged_once(live_url, sandbox):
    for copies in (2, 10):
        sandbox.reset()
        browser = requests.Session()
        start = browser.get(f"{live_url}/auth/clever/login", allow_redirects=False)
        authorize = start.headers["Location"] + "&login_hint=ana"
        callback = browser.get(authorize, allow_redirects=False).headers["Location"]
        assert "state=" in callback
        statuses: list[int] = []

        def hit(url=callback, jar=browser.cookies.copy()):
            statuses.append(requests.get(url, cookies=jar, allow_redirects=False).status_code)

        threads = [threading.Thread(target=hit) for _ in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(token_exchanges(sandbox)) == 1
        assert all(status < 500 for status in statuses), statuses
        assert statuses.count(302) >= 1


def test_unknown_state_gets_one_fresh_authorization_then_a_friendly_error(client):
    first = client.get("/auth/clever/callback?code=abc&state=forged-state")
    assert first.status_code == 302
    retry_state = query_of(first.headers["Location"])["state"]
    assert retry_state.endswith(".2")
    second = client.get("/auth/clever/callback?code=def&state=another-forged.2")
    # Issue 13 changed this: the failure page lives at a URL with only its reference id, so the
    # used code leaves the address bar (it used to render at the callback URL itself).
    assert second.status_code == 303
    assert re.fullmatch(r"/auth/clever/failed/[0-9A-F]{8}", second.headers["Location"])
    page = client.get(second.headers["Location"])
    assert page.status_code == 400
    assert "start again" in page.get_data(as_text=True).lower()


def test_new_login_overrides_the_existing_session(flow, client, sandbox, redis_client, app):
    flow.login_with_button("ana")
    teacher_sid = sid_of(client)
    assert redis_client.exists(SESSION_KEY_PREFIX + teacher_sid)
    page = flow.portal_launch("mateo")
    student_sid = sid_of(client)
    assert student_sid != teacher_sid
    assert not redis_client.exists(SESSION_KEY_PREFIX + teacher_sid)
    assert identity(page) == "Mateo Ramírez"
    with app.app_context():
        ana = db.session.scalar(db.select(User).filter_by(clever_id=seed.ANA_ID))
        assert db.session.scalar(db.select(CleverToken).filter_by(user_id=ana.id)) is None
    # Nothing of the old session answers any more.
    stale = app.test_client()
    stale.set_cookie("session", teacher_sid, domain="localhost")
    assert stale.get("/dashboard").status_code == 302


def test_logout_deletes_session_and_token(flow, client, redis_client, app):
    flow.login_with_button("ana")
    sid = sid_of(client)
    with app.app_context():
        ana = db.session.scalar(db.select(User).filter_by(clever_id=seed.ANA_ID))
        assert load_token(ana.id)
    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"].endswith("/logged-out")
    assert not redis_client.exists(SESSION_KEY_PREFIX + sid)
    page = client.get("/logged-out").get_data(as_text=True)
    assert "still be signed in to Clever" in page
    assert "Log in with Clever" in page
    with app.app_context():
        assert load_token(ana.id) is None
    assert client.get("/dashboard").status_code == 302


def test_token_is_encrypted_at_rest(flow, app):
    flow.login_with_button("ana")
    with app.app_context():
        row = db.session.scalar(db.select(CleverToken))
        token = load_token(row.user_id)
        assert token and token.encode() not in row.encrypted_token


def test_no_token_code_or_state_in_cookies_pages_or_logs(flow, app, caplog):
    caplog.set_level(logging.DEBUG)
    flow.login_with_button("ana")
    flow.go("/dashboard")
    with app.app_context():
        token = load_token(db.session.scalar(db.select(CleverToken)).user_id)
    secrets = {token}
    for page in flow.visited:
        params = query_of(page.url)
        secrets.update(v for k, v in params.items() if k in {"code", "state"})
    secrets.discard(None)
    assert len(secrets) >= 3
    # Redirects to Clever carry state in their Location by design; every page we render and
    # every cookie we set must not.
    app_pages = [p for p in flow.visited if flow.is_app(p.url) and p.status < 300]
    for secret in secrets:
        for page in app_pages:
            assert secret not in page.text
        for page in flow.visited:
            assert all(secret not in cookie for cookie in page.set_cookies)
        assert secret not in caplog.text
