import time

from clever.sessions import SESSION_KEY_PREFIX, begin_session
from models import User, db, utcnow


def session_cookie(response) -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith("session="):
            return header
    raise AssertionError("no session cookie set")


def make_login_route(app):
    @app.get("/_test/login/<int:user_id>")
    def _test_login(user_id):
        begin_session(db.session.get(User, user_id))
        return "ok"


def test_session_lives_in_redis_and_the_cookie_holds_only_the_id(app, redis_client):
    make_login_route(app)
    client = app.test_client()
    with app.app_context():
        user = User(clever_id="c-1", first_name="Ana", last_name="Núñez", role="student")
        db.session.add(user)
        db.session.commit()
        user_id = user.id
    response = client.get(f"/_test/login/{user_id}")
    cookie = session_cookie(response)
    sid = cookie.split(";")[0].split("=", 1)[1]
    assert redis_client.exists(SESSION_KEY_PREFIX + sid)
    # Only the opaque id: no user data, no signature payload.
    assert "Ana" not in cookie and "user" not in cookie.lower().split(";")[0]
    assert len(sid) >= 32
    attributes = cookie.lower()
    assert "httponly" in attributes and "samesite=lax" in attributes


def test_a_new_login_replaces_the_session_id_and_kills_the_old_one(app, redis_client):
    make_login_route(app)
    client = app.test_client()
    with app.app_context():
        first, second = (
            User(clever_id="c-1", first_name="A", role="student"),
            User(clever_id="c-2", first_name="B", role="student"),
        )
        db.session.add_all([first, second])
        db.session.commit()
        ids = first.id, second.id
    old_sid = session_cookie(client.get(f"/_test/login/{ids[0]}")).split(";")[0].split("=", 1)[1]
    new_sid = session_cookie(client.get(f"/_test/login/{ids[1]}")).split(";")[0].split("=", 1)[1]
    assert old_sid != new_sid
    assert not redis_client.exists(SESSION_KEY_PREFIX + old_sid)
    assert redis_client.exists(SESSION_KEY_PREFIX + new_sid)


def test_secure_cookie_in_production(app_config, schema, monkeypatch):
    from app import create_app

    app = create_app(
        {
            **app_config,
            "APP_ENV": "production",
            "CLEVER_CLIENT_ID": "prod-client",
            "CLEVER_CLIENT_SECRET": "prod-secret-value",
            "CLEVER_REDIRECT_URI": "https://app.example.org/auth/clever/callback",
            "TOKEN_ENCRYPTION_KEY": "x" * 43 + "=",
            "TRUSTED_HOSTS": "app.example.org",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    # __Host-: the browser refuses it unless Secure, Path=/ and no Domain, so no subdomain
    # or plain-http page can plant or overwrite it.
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-session"
    assert app.config["TRUSTED_HOSTS"] == ["app.example.org"]
    client = app.test_client()
    forged = client.get("/", headers={"Host": "evil.example"})
    assert forged.status_code == 400
    ok = client.get("/healthz", base_url="https://app.example.org")
    assert ok.status_code == 200


def logged_in_student(app, clever_id: str):
    """A test client logged in (``begin_session``) as a new student."""
    make_login_route(app)
    client = app.test_client()
    with app.app_context():
        user = User(clever_id=clever_id, first_name="A", role="student")
        db.session.add(user)
        db.session.commit()
        user_id = user.id
    client.get(f"/_test/login/{user_id}")
    return client


def test_idle_sessions_end_on_the_server(app, redis_client):
    client = logged_in_student(app, "c-1")
    assert client.get("/dashboard").status_code == 200
    with client.session_transaction() as sess:
        sess["last_seen"] = time.time() - 31 * 60
        sid = sess.sid
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/logged-out?reason=idle")
    assert not redis_client.exists(SESSION_KEY_PREFIX + sid)
    page = client.get("/logged-out?reason=idle")
    assert "inactive" in page.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302


def test_an_idle_session_polling_progress_gets_json_and_a_page_gets_a_redirect(app, redis_client):
    """One rule (clever.negotiate): JSON-only endpoints and Accept: JSON callers get 401 JSON."""
    make_login_route(app)
    client = app.test_client()
    with app.app_context():
        user = User(clever_id="c-2", first_name="B", role="teacher", onboarded_at=utcnow())
        user.contact_email = "b@example.org"
        user.school_name = "School"
        db.session.add(user)
        db.session.commit()
        user_id = user.id

    def idle_request(path: str, **headers: str):
        client.get(f"/_test/login/{user_id}")
        with client.session_transaction() as sess:
            sess["last_seen"] = time.time() - 31 * 60
        return client.get(path, headers=headers)

    polled = idle_request("/sync/status")
    assert polled.status_code == 401
    assert polled.json == {"error": "session_ended", "reason": "idle"}
    fetched = idle_request("/dashboard", Accept="application/json")
    assert fetched.status_code == 401 and fetched.json["reason"] == "idle"
    page = idle_request("/sync/history")
    assert page.status_code == 302
    assert page.headers["Location"].endswith("/logged-out?reason=idle")


def test_anonymous_pages_create_no_session_and_a_sign_in_form_a_short_one(strict_url, redis_client):
    import requests

    for path in ("/", "/healthz", "/logged-out", "/demo", "/no-such-page", "/dashboard"):
        response = requests.get(strict_url + path, allow_redirects=False, timeout=30)
        assert response.status_code < 500
        assert "session=" not in response.headers.get("Set-Cookie", ""), path
    assert redis_client.dbsize() == 0
    # The sign-in page's local form needs a CSRF token, which lives in the session: one key,
    # kept an hour (the token's own lifetime), not the 12 hours of a signed-in session.
    requests.get(strict_url + "/login", timeout=30)
    keys = redis_client.keys(SESSION_KEY_PREFIX + "*")
    assert len(keys) == 1
    assert 0 < redis_client.ttl(keys[0]) <= 3600


def test_a_page_view_writes_the_session_only_to_record_activity_a_minute_on(app, redis_client):
    """An unchanged session is not written back (no Redis SET, no new cookie); the last activity
    is recorded once it is a minute old, so the idle limit still counts from real use."""
    client = logged_in_student(app, "c-3")
    client.get("/dashboard")  # the first page stores the session's CSRF token
    with client.session_transaction() as sess:
        sid, recorded = sess.sid, sess["last_seen"]
    key = SESSION_KEY_PREFIX + sid
    redis_client.expire(key, 1000)  # a write would set the absolute lifetime again

    response = client.get("/dashboard")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert 990 < redis_client.ttl(key) <= 1000

    with client.session_transaction() as sess:
        sess["last_seen"] = recorded - 61
    redis_client.expire(key, 1000)
    assert client.get("/dashboard").status_code == 200
    assert redis_client.ttl(key) > 1000  # written, with the session's whole lifetime
    with client.session_transaction() as sess:
        assert sess["last_seen"] > recorded - 1
