"""Local email + password accounts: sign-up, log-in, generic failures, rate limits, CSRF."""

from __future__ import annotations

import re

import pytest
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import func

from clever import local_accounts, ratelimit
from clever.embedded_redis import free_port
from clever.local_accounts import ensure_local_account, hash_password
from models import User, db

EMAIL = "maria.lopez@oldschool.example.org"
PASSWORD = "my class has 28 kids"
BAD_CREDENTIALS = "Email or password is incorrect."


def make_account(app, email=EMAIL, password=PASSWORD, school_name="Oak Primary") -> int:
    with app.app_context():
        user = User(
            email=email,
            login_email=email.lower(),
            first_name="María",
            last_name="López",
            role="teacher",
            password_hash=hash_password(password),
            school_name=school_name,
        )
        db.session.add(user)
        db.session.commit()
        return user.id


def log_in(client, email=EMAIL, password=PASSWORD, ip="203.0.113.7"):
    return client.post(
        "/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def session_user_id(client) -> str | None:
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def signup_data(**overrides) -> dict:
    return {
        "first_name": "María",
        "last_name": "López",
        "email": EMAIL,
        "password": PASSWORD,
        "school_name": "Oak Primary",
        **overrides,
    }


# -- passwords ----------------------------------------------------------------------------------


def test_passwords_are_scrypt_hashed_and_checked_exactly(app):
    long_unicode = "ñandú 🦩 " * 16  # 128 characters: nothing is truncated or folded
    stored = hash_password(long_unicode)
    assert stored.startswith("scrypt:")
    user = User(password_hash=stored)
    assert local_accounts.verify_password(user, long_unicode)
    assert not local_accounts.verify_password(user, long_unicode.upper())
    assert not local_accounts.verify_password(user, long_unicode[:-1])


def test_an_unknown_email_still_costs_a_password_check(app, monkeypatch):
    calls = []
    real = local_accounts.check_password_hash
    monkeypatch.setattr(
        local_accounts, "check_password_hash", lambda *a: calls.append(a) or real(*a)
    )
    with app.test_request_context():
        assert (
            local_accounts.authenticate("nobody@example.org", "whatever1", "198.51.100.1") is None
        )
    assert len(calls) == 1 and calls[0][0].startswith("scrypt:")


# -- sign-up ------------------------------------------------------------------------------------


def test_signup_page_is_an_accessible_form(client):
    page = client.get("/signup")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert text.count("<h1") == 1
    assert "<legend>Your name</legend>" in text
    for name, autocomplete in (
        ("first_name", "given-name"),
        ("last_name", "family-name"),
        ("email", "email"),
        ("password", "new-password"),
        ("school_name", "organization"),
    ):
        assert re.search(rf'<label for="{name}">', text), name
        assert re.search(rf'<input[^>]*autocomplete="{autocomplete}"[^>]*name="{name}"', text)


def test_signup_creates_a_local_teacher_and_logs_them_in(app, client):
    response = client.post("/signup", data=signup_data())

    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard")
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=EMAIL))
        assert user.clever_id is None and user.role == "teacher"
        assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash
        assert user.school_name == "Oak Primary" and user.onboarded_at is not None
        user_id = user.id
    assert session_user_id(client) == str(user_id)
    dashboard = client.get("/dashboard")
    assert dashboard.status_code == 200 and "María López" in dashboard.get_data(as_text=True)


def test_signup_errors_sit_next_to_their_fields_and_keep_what_was_typed(app, client):
    response = client.post(
        "/signup",
        data=signup_data(first_name="  Zoë ", email="zoe-at-school", password="short"),
    )

    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="email-error"' in text and "Enter an email address like" in text
    assert 'id="password-error"' in text and "Use 8 to 200 characters" in text
    assert re.search(
        r'<input[^>]*aria-describedby="email-hint email-error"[^>]*aria-invalid="true"', text
    )
    assert 'value="zoe-at-school"' in text and 'value="Zoë"' in text
    assert 'value="Oak Primary"' in text
    assert 'value="short"' not in text  # passwords are never sent back
    with app.app_context():
        assert db.session.scalar(db.select(func.count()).select_from(User)) == 0


def test_signup_with_a_taken_email_says_so_whatever_the_case(app, client):
    make_account(app)

    response = client.post("/signup", data=signup_data(email=EMAIL.upper()))

    assert response.status_code == 409
    assert "There is already an account with this email" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(func.count()).select_from(User)) == 1


def test_ensure_local_account_is_idempotent(app, client):
    with app.app_context():
        first = ensure_local_account("ana.legacy@example.org", "roster-room-demo", "Ana", "Núñez")
        again = ensure_local_account("Ana.Legacy@example.org", "something-else", "X", "Y")
        assert first.id == again.id and again.first_name == "Ana"
        assert first.clever_id is None
        assert db.session.scalar(db.select(func.count()).select_from(User)) == 1
    assert log_in(client, "ana.legacy@example.org", "roster-room-demo").status_code == 302


# -- log-in -------------------------------------------------------------------------------------


def test_login_page_has_the_local_form_with_autocomplete(client):
    text = client.get("/login").get_data(as_text=True)
    assert 'action="/login"' in text
    assert re.search(r'<input[^>]*autocomplete="email"[^>]*name="email"', text)
    assert re.search(r'<input[^>]*autocomplete="current-password"[^>]*name="password"', text)
    assert 'href="/signup"' in text


def test_login_with_the_right_password_in_any_case_of_email(app, client):
    user_id = make_account(app)

    response = log_in(client, email="  Maria.Lopez@OldSchool.Example.org ")

    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard")
    assert session_user_id(client) == str(user_id)
    assert client.get("/dashboard").status_code == 200


def test_a_wrong_password_and_an_unknown_email_fail_alike(app, client):
    make_account(app)

    wrong = log_in(client, password="not my password")
    unknown = log_in(client, email="someone.else@oldschool.example.org")

    assert wrong.status_code == unknown.status_code == 401
    wrong_text, unknown_text = wrong.get_data(as_text=True), unknown.get_data(as_text=True)
    assert BAD_CREDENTIALS in wrong_text
    assert wrong_text.replace(EMAIL, "X") == unknown_text.replace(
        "someone.else@oldschool.example.org", "X"
    )
    assert 'role="alert" id="login-error"' in wrong_text
    assert "not my password" not in wrong_text
    assert session_user_id(client) is None


def test_login_validation_errors_are_shown_next_to_the_field(client):
    response = log_in(client, email="", password="")
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="email-error"' in text and "Enter the email you signed up with." in text
    assert 'id="password-error"' in text


def test_a_local_account_without_a_school_is_onboarded_first(app, client):
    make_account(app, school_name=None)

    response = log_in(client)

    assert response.headers["Location"].endswith("/onboarding")
    assert client.get("/dashboard").headers["Location"].endswith("/onboarding")
    done = client.post("/onboarding", data={"school_name": "Oak Primary"})
    assert done.headers["Location"].endswith("/dashboard")
    assert client.get("/dashboard").status_code == 200


def test_a_local_login_on_a_shared_device_logs_the_clever_user_out_entirely(app, client, sandbox):
    from flows import APP_ORIGIN, PRIMARY_REDIRECT_URI, CleverFlow

    from models import CleverToken

    CleverFlow(client, sandbox, APP_ORIGIN, PRIMARY_REDIRECT_URI).login_with_button("zoe")
    with app.app_context():
        zoe_id = db.session.scalar(db.select(CleverToken.user_id))
    assert session_user_id(client) == str(zoe_id)
    local_id = make_account(app)

    assert log_in(client).status_code == 302

    assert session_user_id(client) == str(local_id)
    with app.app_context():
        assert db.session.scalar(db.select(func.count()).select_from(CleverToken)) == 0


def test_a_local_account_has_no_link_offer(app, client):
    make_account(app)
    log_in(client)
    assert client.get("/account/link").headers["Location"].endswith("/dashboard")


# -- rate limits --------------------------------------------------------------------------------


def test_five_failures_for_one_account_from_one_address_lock_it_there(app, client, redis_client):
    user_id = make_account(app)
    for _ in range(5):
        assert log_in(client, password="guess", ip="198.51.100.4").status_code == 401

    limited = log_in(client, ip="198.51.100.4")  # the right password, the same address

    text = limited.get_data(as_text=True)
    assert limited.status_code == 429
    assert 800 < int(limited.headers["Retry-After"]) <= 901
    assert "Too many attempts" in text and "wait 15 minutes" in text
    assert "Log in with Clever" in text  # Clever logins are never locked out
    assert session_user_id(client) is None
    # The counter keys hold neither the email nor the password.
    keys = b" ".join(redis_client.keys("ratelimit*")).decode()
    assert "password" in keys and EMAIL not in keys and "maria" not in keys
    # The teacher, from the school's address, is not locked out by a stranger's guesses...
    assert log_in(client, ip="192.0.2.99").status_code == 302
    assert session_user_id(client) == str(user_id)
    # ...and another account from the stranger's address is unaffected.
    client.post("/logout")
    other = make_account(app, email="other@oldschool.example.org")
    assert log_in(client, email="other@oldschool.example.org", ip="198.51.100.4").status_code == 302
    assert session_user_id(client) == str(other) != str(user_id)


def test_guessing_one_account_from_many_addresses_hits_the_account_ceiling(app, client):
    make_account(app)
    ceiling = ratelimit.FAILURES_PER_ACCOUNT.amount
    for n in range(ceiling):
        # Forged X-Forwarded-For values would not help: TRUSTED_PROXY_COUNT is 0 here.
        ip = f"10.{n // 250}.{n % 250}.1"
        assert log_in(client, password="guess", ip=ip).status_code == 401
    assert log_in(client, ip="192.0.2.98").status_code == 429


def test_twenty_failures_from_one_address_lock_that_address(app, client):
    make_account(app)
    for n in range(20):
        response = log_in(client, email=f"guess{n}@example.org", password="guess")
        assert response.status_code == 401

    assert log_in(client).status_code == 429
    assert log_in(client, ip="192.0.2.50").status_code == 302


def test_a_success_does_not_reset_the_address_counter(app, client):
    make_account(app)
    for n in range(19):
        log_in(client, email=f"guess{n}@example.org", password="guess")
    assert log_in(client).status_code == 302
    log_in(client, email="guess-last@example.org", password="guess")
    assert log_in(client).status_code == 429


def test_the_limiter_fails_closed_when_redis_is_down(app, client, monkeypatch):
    make_account(app)
    checks = []
    monkeypatch.setattr(local_accounts, "check_password_hash", lambda *a: checks.append(a))

    # A real Redis client, pointed where no server listens.
    dead = MovingWindowRateLimiter(RedisStorage(f"redis://127.0.0.1:{free_port()}/0"))
    monkeypatch.setattr(ratelimit, "strategy", lambda: dead)

    response = log_in(client)

    assert response.status_code == 503
    assert checks == []  # no password was checked while nothing could be counted
    assert session_user_id(client) is None


# -- CSRF ---------------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(app, app_config):
    from app import create_app

    return create_app({**app_config, "WTF_CSRF_ENABLED": True}).test_client()


def test_login_and_signup_without_a_csrf_token_are_rejected(app, csrf_client):
    make_account(app)

    login = log_in(csrf_client)
    signup = csrf_client.post("/signup", data=signup_data(email="new@example.org"))

    for response in (login, signup):
        assert response.status_code == 400
        assert "This form had expired" in response.get_data(as_text=True)
    assert session_user_id(csrf_client) is None
    with app.app_context():
        assert db.session.scalar(db.select(func.count()).select_from(User)) == 1

    page = csrf_client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    ok = csrf_client.post(
        "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token}
    )
    assert ok.status_code == 302
