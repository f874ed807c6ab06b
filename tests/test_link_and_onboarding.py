"""First Clever login: linking to an existing local account, "No, I'm new", and onboarding.

Every first login runs the real flow (the app talks to the built-in sandbox over real HTTP).
"""

from __future__ import annotations

import re
import time

import pytest
from flows import APP_ORIGIN, PRIMARY_REDIRECT_URI, CleverFlow
from sqlalchemy import func

from clever.local_accounts import hash_password
from clever.sandbox import seed
from models import (
    CleverToken,
    Enrollment,
    Section,
    SectionTeacher,
    SyncRun,
    TeacherSectionPreference,
    User,
    db,
)

LOCAL_EMAIL = "ana.legacy@example.org"
LOCAL_PASSWORD = "correct horse battery staple"
BAD_CREDENTIALS = "Email or password is incorrect."


def clever_email(persona: str) -> str:
    return seed.seeded_user(seed.PERSONAS[persona].user_id)["email"]


def clever_id(persona: str) -> str:
    return seed.PERSONAS[persona].user_id


def new_flow(client, sandbox) -> CleverFlow:
    return CleverFlow(client, sandbox, APP_ORIGIN, PRIMARY_REDIRECT_URI)


def first_login(client, sandbox, persona: str):
    page = new_flow(client, sandbox).login_with_button(persona)
    assert page.status == 200, page.text[:500]
    return page


def make_local_account(app, email=LOCAL_EMAIL, password=LOCAL_PASSWORD, **fields) -> int:
    with app.app_context():
        user = User(
            clever_id=fields.pop("clever_id", None),
            email=email,
            login_email=email.lower(),
            first_name=fields.pop("first_name", "Ana"),
            last_name=fields.pop("last_name", "Legacy"),
            role="teacher",
            password_hash=hash_password(password),
            school_name=fields.pop("school_name", "Cedar Elementary (old account)"),
            **fields,
        )
        db.session.add(user)
        db.session.commit()
        return user.id


def get_user(app, user_id: int) -> User | None:
    with app.app_context():
        user = db.session.get(User, user_id)
        if user is not None:
            db.session.expunge(user)
        return user


def user_by_clever_id(app, persona: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(clever_id=clever_id(persona)))
        if user is not None:
            db.session.expunge(user)
        return user


def accounts_of(app, persona: str, local_id: int) -> set[int]:
    """Ids of every row that is this persona's Clever identity or the local account.

    (A roster sync also creates rows for co-teachers and students; those don't count here.)
    """
    with app.app_context():
        return set(
            db.session.scalars(
                db.select(User.id).where(
                    (User.clever_id == clever_id(persona)) | (User.id == local_id)
                )
            )
        )


def references_to(app, user_id: int) -> dict[str, int]:
    with app.app_context():
        return {
            model.__name__: db.session.scalar(
                db.select(func.count()).select_from(model).where(column == user_id)
            )
            for model, column in (
                (SectionTeacher, SectionTeacher.teacher_id),
                (Enrollment, Enrollment.student_id),
                (TeacherSectionPreference, TeacherSectionPreference.teacher_id),
                (SyncRun, SyncRun.user_id),
                (CleverToken, CleverToken.user_id),
            )
        }


def session_user_id(client) -> str | None:
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def link(client, email=LOCAL_EMAIL, password=LOCAL_PASSWORD, **extra):
    return client.post("/account/link", data={"email": email, "password": password, **extra})


def decline(client, **extra):
    return client.post("/account/link", data={"new-decline": "yes", **extra})


# -- the offer ----------------------------------------------------------------------------------


def test_first_teacher_login_offers_linking_and_never_links_by_email(app, client, sandbox):
    # A local account with exactly ana's Clever email: still not hers until she proves it.
    local_id = make_local_account(app, email=clever_email("ana").upper())
    page = first_login(client, sandbox, "ana")

    assert page.url.endswith("/account/link")
    assert "Already have a Roster Room account?" in page.text
    assert "No, I'm new here" in page.text
    clever_user = user_by_clever_id(app, "ana")
    assert clever_user is not None and clever_user.id != local_id
    local = get_user(app, local_id)
    assert local.clever_id is None and local.first_name == "Ana" and local.last_name == "Legacy"
    assert session_user_id(client) == str(clever_user.id)
    assert accounts_of(app, "ana", local_id) == {local_id, clever_user.id}


def test_link_attaches_clever_to_the_local_account_and_moves_the_roster(app, client, sandbox):
    local_id = make_local_account(app)
    first_login(client, sandbox, "ana")
    provisioned = user_by_clever_id(app, "ana")
    with app.app_context():
        # The login's roster sync gave the new row its classes; add what it doesn't write
        # for a teacher (an enrollment), and one class the local account already teaches,
        # so the merge has to resolve a unique-constraint clash.
        shared = db.session.scalars(
            db.select(SectionTeacher.section_id).filter_by(teacher_id=provisioned.id)
        ).first()
        extra = Section(clever_id="sec-link-extra", name="Lunch club")
        db.session.add(extra)
        db.session.flush()
        db.session.add_all(
            [
                Enrollment(section_id=extra.id, student_id=provisioned.id),
                SectionTeacher(section_id=shared, teacher_id=local_id, is_primary=True),
            ]
        )
        db.session.commit()
    before = references_to(app, provisioned.id)
    assert before["SectionTeacher"] >= 12 and before["CleverToken"] == 1
    assert before["SyncRun"] >= 1 and before["Enrollment"] == 1
    with client.session_transaction() as sess:
        old_sid = sess.sid

    response = link(client, email="  ANA.Legacy@Example.org ")

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/dashboard")
    kept = get_user(app, local_id)
    assert kept.clever_id == clever_id("ana")
    assert (kept.first_name, kept.middle_name, kept.last_name) == ("Ana", "Lucía", "Núñez")
    assert kept.email == clever_email("ana")
    assert kept.role == "teacher" and kept.clever_roles == "teacher"
    assert kept.authorized_by == "district"
    assert kept.password_hash and kept.school_name == "Cedar Elementary (old account)"
    assert kept.link_offer_decided_at is not None and kept.onboarded_at is not None
    # No duplicate: the provisioned row is gone and nothing points at it any more.
    assert get_user(app, provisioned.id) is None
    assert accounts_of(app, "ana", local_id) == {local_id}
    assert set(references_to(app, provisioned.id).values()) == {0}
    after = references_to(app, local_id)
    assert after == before  # the clashing class link was kept once, not twice
    # The browser is now the kept account, on a brand-new session.
    assert session_user_id(client) == str(local_id)
    with client.session_transaction() as sess:
        assert sess.sid != old_sid
    dashboard = client.get("/dashboard")
    assert dashboard.status_code == 200
    assert "Ana Núñez" in dashboard.get_data(as_text=True)

    # Her next Clever login finds the same account by Clever id: no offer, no new row.
    page = new_flow(client, sandbox).login_with_button("ana")
    assert page.url.endswith("/dashboard") and page.status == 200
    assert accounts_of(app, "ana", local_id) == {local_id}
    assert session_user_id(client) == str(local_id)

    # Clever rewrote her email, yet she still signs in with the one she signed up with.
    client.post("/logout")
    local = client.post("/login", data={"email": LOCAL_EMAIL, "password": LOCAL_PASSWORD})
    assert local.status_code == 302
    assert session_user_id(client) == str(local_id)


def test_link_with_a_wrong_password_changes_nothing(app, client, sandbox):
    local_id = make_local_account(app)
    first_login(client, sandbox, "ana")
    provisioned = user_by_clever_id(app, "ana")

    response = link(client, password="not the password")
    unknown = link(client, email="nobody@example.org", password="not the password")

    body = response.get_data(as_text=True)
    assert response.status_code == 401 and unknown.status_code == 401
    assert BAD_CREDENTIALS in body and BAD_CREDENTIALS in unknown.get_data(as_text=True)
    assert 'value="ana.legacy@example.org"' in body  # the email is kept...
    assert "not the password" not in body  # ...the password never is
    assert get_user(app, local_id).clever_id is None
    assert user_by_clever_id(app, "ana").id == provisioned.id
    assert session_user_id(client) == str(provisioned.id)
    assert accounts_of(app, "ana", local_id) == {local_id, provisioned.id}


def test_link_form_errors_are_shown_next_to_the_field(app, client, sandbox):
    first_login(client, sandbox, "ana")
    response = link(client, email="not-an-email", password="")
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'<input[^>]*aria-describedby="email-error"[^>]*aria-invalid="true"', body)
    assert 'id="email-error"' in body and 'id="password-error"' in body
    assert 'value="not-an-email"' in body


def test_an_expired_offer_says_so_and_lets_the_teacher_continue(app, client, sandbox):
    local_id = make_local_account(app)
    first_login(client, sandbox, "ana")
    with client.session_transaction() as sess:
        assert sess["link_offer_until"] > time.time() + 500
        sess["link_offer_until"] = time.time() - 1

    page = client.get("/account/link")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "This offer to link an account has expired" in text
    assert ">Continue</button>" in text and 'name="password"' not in text

    # Even with the right password, a late link attempt changes nothing.
    late = link(client)
    assert late.status_code == 400 and "has expired" in late.get_data(as_text=True)
    assert get_user(app, local_id).clever_id is None

    continued = decline(client)
    assert continued.status_code == 302 and continued.headers["Location"].endswith("/dashboard")
    assert user_by_clever_id(app, "ana").link_offer_decided_at is not None


def test_an_account_linked_to_another_clever_id_cannot_be_taken(app, client, sandbox):
    local_id = make_local_account(app, clever_id="5f00000000000000000000ff")
    first_login(client, sandbox, "ana")

    response = link(client)

    assert response.status_code == 409
    assert "already linked to a different Clever login" in response.get_data(as_text=True)
    assert get_user(app, local_id).clever_id == "5f00000000000000000000ff"
    assert user_by_clever_id(app, "ana") is not None
    assert len(accounts_of(app, "ana", local_id)) == 2


def test_same_email_on_another_clever_user_cannot_link_without_the_password(app, client, sandbox):
    # The local account carries ana's email; devon logs in and tries to claim it.
    local_id = make_local_account(app, email=clever_email("ana"))
    first_login(client, sandbox, "devon")

    without_password = link(client, email=clever_email("ana"), password="")
    wrong_password = link(client, email=clever_email("ana"), password="ana's email is enough?")

    assert without_password.status_code == 400
    assert wrong_password.status_code == 401
    local = get_user(app, local_id)
    assert local.clever_id is None and local.last_name == "Legacy"
    assert user_by_clever_id(app, "devon").id != local_id
    assert len(accounts_of(app, "devon", local_id)) == 2


def test_link_attempts_are_rate_limited(app, client, sandbox):
    local_id = make_local_account(app)
    first_login(client, sandbox, "ana")
    for _ in range(5):
        assert link(client, password="guess").status_code == 401

    limited = link(client)  # even the right password waits

    text = limited.get_data(as_text=True)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many attempts" in text and "No, I'm new here" in text
    assert get_user(app, local_id).clever_id is None


def test_students_never_see_the_offer(app, client, sandbox):
    flow = new_flow(client, sandbox)
    page = flow.login_with_button("mateo")
    assert page.status == 200 and page.url.endswith("/dashboard")
    assert not any("/account/link" in visited.url for visited in flow.visited)
    with client.session_transaction() as sess:
        assert "link_offer_until" not in sess

    response = client.get("/account/link")
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard")
    assert link(client).status_code == 302
    assert client.get("/onboarding").headers["Location"].endswith("/dashboard")
    assert user_by_clever_id(app, "mateo").link_offer_decided_at is None


def test_the_offer_and_onboarding_need_a_login(client):
    for path in ("/account/link", "/onboarding"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_returning_teachers_are_not_offered_again(app, client, sandbox):
    first_login(client, sandbox, "ana")
    decline(client)
    page = new_flow(client, sandbox).login_with_button("ana")
    assert page.url.endswith("/dashboard")


# -- "No, I'm new" and onboarding ---------------------------------------------------------------


def test_no_im_new_goes_straight_to_the_dashboard_when_nothing_is_missing(app, client, sandbox):
    first_login(client, sandbox, "ana")

    response = decline(client)

    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard")
    ana = user_by_clever_id(app, "ana")
    assert ana.link_offer_decided_at is not None and ana.onboarded_at is not None
    assert client.get("/dashboard").status_code == 200
    # Nothing to ask: the onboarding page itself steps aside.
    assert client.get("/onboarding").headers["Location"].endswith("/dashboard")
    assert client.get("/account/link").headers["Location"].endswith("/dashboard")


def test_a_teacher_without_email_is_asked_for_one_and_only_that(app, client, sandbox):
    first_login(client, sandbox, "noemail_teacher")
    response = decline(client)
    assert response.headers["Location"].endswith("/onboarding")

    page = client.get("/onboarding")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="contact_email"' in text and 'autocomplete="email"' in text
    assert 'name="school_name"' not in text
    assert text.count("<h1") == 1
    assert "Log out" in text

    bad = client.post("/onboarding", data={"contact_email": "renee at school"})
    bad_text = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert 'id="contact_email-error"' in bad_text and 'aria-invalid="true"' in bad_text
    assert 'value="renee at school"' in bad_text
    assert user_by_clever_id(app, "noemail_teacher").contact_email is None

    good = client.post("/onboarding", data={"contact_email": " renee@cedar.example.org "})
    assert good.status_code == 302 and good.headers["Location"].endswith("/dashboard")
    renee = user_by_clever_id(app, "noemail_teacher")
    assert renee.contact_email == "renee@cedar.example.org" and renee.onboarded_at is not None
    assert client.get("/dashboard").status_code == 200


def test_a_library_teacher_is_asked_for_the_school_name(app, client, sandbox):
    first_login(client, sandbox, "library")
    assert decline(client).headers["Location"].endswith("/onboarding")

    text = client.get("/onboarding").get_data(as_text=True)
    assert 'name="school_name"' in text and 'autocomplete="organization"' in text
    assert 'name="contact_email"' not in text  # Clever gave her email

    empty = client.post("/onboarding", data={"school_name": "   "})
    assert empty.status_code == 400
    assert "Enter the name of your school." in empty.get_data(as_text=True)

    done = client.post("/onboarding", data={"school_name": "Birch Middle School"})
    assert done.headers["Location"].endswith("/dashboard")
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "Birch Middle School" in dashboard  # shown in the identity banner
    assert user_by_clever_id(app, "library").school_name == "Birch Middle School"


def test_the_dashboard_is_out_of_reach_until_onboarding_is_done(app, client, sandbox):
    first_login(client, sandbox, "noemail_teacher")
    # Skipping the offer by typing a URL still lands on onboarding.
    for path in ("/dashboard", "/", "/demo"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].endswith("/onboarding"), path
    for path in ("/classes/1", "/sync/history"):
        assert client.get(path).headers["Location"].endswith("/onboarding"), path
    status = client.get("/sync/status")
    assert status.status_code == 403 and status.json == {"error": "onboarding_required"}
    assert client.get("/healthz").status_code == 200
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/account/link").status_code == 200
    # ...and never stuck: logging out always works.
    out = client.post("/logout")
    assert out.headers["Location"].endswith("/logged-out")
    assert session_user_id(client) is None


def test_a_local_teacher_links_and_their_onboarding_answers_carry_over(app, client, sandbox):
    # Renée had a local account (with an email) before Clever, which has none for her.
    local_id = make_local_account(app, email="renee@old.example.org", school_name=None)
    first_login(client, sandbox, "noemail_teacher")

    response = link(client, email="renee@old.example.org")

    assert response.headers["Location"].endswith("/dashboard")
    kept = get_user(app, local_id)
    assert kept.clever_id == clever_id("noemail_teacher")
    assert kept.contact_email == "renee@old.example.org"
    assert accounts_of(app, "noemail_teacher", local_id) == {local_id}


# -- CSRF ---------------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(app, app_config):
    """A client of a CSRF-enabled app (``app`` is requested so the data is wiped after)."""
    from app import create_app

    return create_app({**app_config, "WTF_CSRF_ENABLED": True}).test_client()


def csrf_token_in(html: str) -> str:
    match = re.search(r'name="(?:new-)?csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_link_and_decline_without_a_csrf_token_are_rejected(app, csrf_client, sandbox):
    local_id = make_local_account(app)
    page = first_login(csrf_client, sandbox, "ana")

    forged_link = link(csrf_client)
    forged_decline = decline(csrf_client)

    for response in (forged_link, forged_decline):
        assert response.status_code == 400
        assert "This form had expired" in response.get_data(as_text=True)
    assert get_user(app, local_id).clever_id is None
    assert user_by_clever_id(app, "ana").link_offer_decided_at is None
    assert len(accounts_of(app, "ana", local_id)) == 2

    # The same post with the page's token goes through.
    ok = link(csrf_client, csrf_token=csrf_token_in(page.text))
    assert ok.status_code == 302
    assert get_user(app, local_id).clever_id == clever_id("ana")


def test_onboarding_without_a_csrf_token_is_rejected(app, csrf_client, sandbox):
    page = first_login(csrf_client, sandbox, "noemail_teacher")
    decline(csrf_client, **{"new-csrf_token": csrf_token_in(page.text)})

    forged = csrf_client.post("/onboarding", data={"contact_email": "renee@cedar.example.org"})

    assert forged.status_code == 400
    assert "This form had expired" in forged.get_data(as_text=True)
    assert user_by_clever_id(app, "noemail_teacher").contact_email is None
    form_page = csrf_client.get("/onboarding").get_data(as_text=True)
    ok = csrf_client.post(
        "/onboarding",
        data={"contact_email": "renee@cedar.example.org", "csrf_token": csrf_token_in(form_page)},
    )
    assert ok.status_code == 302
    assert user_by_clever_id(app, "noemail_teacher").contact_email == "renee@cedar.example.org"


def test_the_merge_moves_every_reference_to_a_user():
    """Guard: a new model pointing at users.id must be added to the merge, or linking would
    leave rows behind (or fail on the foreign key when the Clever row is deleted)."""
    from clever.accounts import MERGED_USER_REFERENCES

    referencing = {
        (fk.parent.table.name, fk.parent.name)
        for table in db.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table.name == "users"
    }
    covered = {(column.table.name, column.name) for column in MERGED_USER_REFERENCES}
    assert referencing == covered


def test_a_failed_merge_leaves_both_accounts_as_they_were(app, client, sandbox, monkeypatch):
    local_id = make_local_account(app)
    first_login(client, sandbox, "ana")
    provisioned = user_by_clever_id(app, "ana")
    before = references_to(app, provisioned.id)

    def broken_delete(_row):
        raise RuntimeError("database went away mid-merge")

    monkeypatch.setattr(db.session, "delete", broken_delete)
    response = link(client)

    assert response.status_code == 500
    assert references_to(app, provisioned.id) == before
    assert set(references_to(app, local_id).values()) == {0}
    assert get_user(app, local_id).clever_id is None
    assert user_by_clever_id(app, "ana").id == provisioned.id


def test_linking_signs_the_local_account_out_everywhere_else(app, client, sandbox):
    local_id = make_local_account(app)
    elsewhere = app.test_client()  # e.g. the teacher's old laptop, still signed in
    assert (
        elsewhere.post(
            "/login", data={"email": LOCAL_EMAIL, "password": LOCAL_PASSWORD}
        ).status_code
        == 302
    )
    assert session_user_id(elsewhere) == str(local_id)
    first_login(client, sandbox, "ana")
    assert link(client).status_code == 302
    assert session_user_id(client) == str(local_id)
    assert elsewhere.get("/dashboard").status_code == 302
    assert session_user_id(elsewhere) is None
