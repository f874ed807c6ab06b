"""Clever's two worlds over real HTTP: district logins read rosters with the district-app token,
Library logins with their own token; the sandbox enforces both (reference.md 2.5, 4.8, 5.3, 5.7).

Every login here goes through the sandbox's OAuth flow; the sandbox's request log then shows
which token each call used, that no call was out of its token's scope, and that no user-token
call carried a paging parameter.
"""

from __future__ import annotations

import re

import pytest
from test_dashboard import cards, class_link, text_of
from test_dashboard import login as login_as
from test_sync_views import JSON, runs_of, wait_until_idle

from clever import sync, tokens
from clever.sandbox import seed
from models import Section, User, db

PAGING = {"limit", "starting_after", "ending_before"}
ART = "Art & Música - Núñez - 6"
BIG = "Grade 4 Math - Núñez - 2"
LIFE_SCIENCE = "7th Grade Life Science - Kobayashi - 1"


def login(flow, persona: str):
    """Log in with our button as a new user would: "No, I'm new", then any onboarding."""
    page = login_as(flow, persona)
    if page.url.endswith("/onboarding"):
        page = flow.go_form(page, "Save and continue", {"school_name": "Lakeview Middle"})
    assert page.url.endswith("/dashboard"), page.url
    return page


def api_log(sandbox) -> list[dict]:
    return sandbox.requests_log(kind="api")


def assert_tokens_kept_in_scope(sandbox) -> None:
    """Zero out-of-scope calls, and never a paging parameter with a user token."""
    log = api_log(sandbox)
    assert log, "no Data API call at all"
    assert [e["path"] for e in log if e["out_of_scope"]] == []
    assert [e for e in log if e["status"] == 404] == []
    user_calls = [e for e in log if e["token_kind"] != "district_app"]
    assert [e for e in user_calls if PAGING & set(e["query"])] == []


def user_token_paths(sandbox, kind: str = "district_user") -> set[str]:
    return {e["path"] for e in api_log(sandbox) if e["token_kind"] == kind}


def user_of(app, persona: str) -> User:
    with app.app_context():
        user = db.session.scalar(
            db.select(User).filter_by(clever_id=seed.PERSONAS[persona].user_id)
        )
        assert user is not None
        db.session.expunge(user)
        return user


def dashboard(flow) -> str:
    return flow.client.get("/dashboard").get_data(as_text=True)


# -- district logins ------------------------------------------------------------------------------


def test_a_district_teacher_gets_every_class_read_with_the_district_app_token(flow, app, sandbox):
    page = login(flow, "ana")
    shown = cards(page.text)
    assert len(shown) == 13  # 12+ sections, all shown
    # The 135-student class, co-teachers, and a class with three teachers.
    assert "135 students" in shown[BIG] and "Devon O'Hara" in shown[BIG]
    assert "Kwame Mensah" in shown[ART] and "Ingrid Sørensen" in shown[ART]
    big = flow.client.get(class_link(page.text, BIG)).get_data(as_text=True)
    facts = text_of(big.split('class="facts"', 1)[1].split("</ul>", 1)[0])
    assert "Course: Grade 4 Math" in facts and "Term: 2024-25 Full Year" in facts
    assert "Cedar Elementary" in facts
    assert len(re.findall(r'<td class="person-name">', big)) == 135
    art = flow.client.get(class_link(page.text, ART)).get_data(as_text=True)
    teachers = text_of(art.split('data-testid="teachers"', 1)[1].split("</section>", 1)[0])
    assert "> Teachers " in teachers
    for name in ("Ana Núñez Primary You", "Kwame Mensah Co-teacher",
                 "Ingrid Sørensen Co-teacher"):  # fmt: skip
        assert name in teachers
    robotics = flow.client.get(class_link(page.text, "Robotics Club (Ñandú team)"))
    assert "Birch Middle" in robotics.get_data(as_text=True)  # a school that is not hers

    # The user token went only where it may; the roster came with the district-app token.
    assert_tokens_kept_in_scope(sandbox)
    assert user_token_paths(sandbox) == {"/v3.0/me", f"/v3.0/users/{seed.ANA_ID}"}
    assert sandbox.count("token_list") == 1
    roster_calls = [e for e in api_log(sandbox) if e["token_kind"] == "district_app"]
    assert all(e["query"].get("limit") == "1000" for e in roster_calls if e["path"].endswith("s"))
    big_reads = [e for e in roster_calls if e["path"].endswith(f"{seed.BIG_SECTION_ID}/users")]
    assert len(big_reads) == 1  # a class of 135 is one request
    with app.app_context():
        math = db.session.scalar(db.select(Section).filter_by(clever_id=seed.BIG_SECTION_ID))
        assert (math.course_name, math.term_name) == ("Grade 4 Math", "2024-25 Full Year")
        assert math.school.name == "Cedar Elementary"


def test_the_district_app_token_is_cached_encrypted_and_reused(flow, app, sandbox, redis_client):
    login(flow, "ana")
    token = sandbox.district_token()
    raw = redis_client.get(tokens.DISTRICT_TOKEN_KEY + seed.DISTRICT_ID)
    assert raw.startswith(b"gAAAA") and token.encode() not in raw
    assert token.encode() not in b"".join(
        redis_client.dump(key) or b"" for key in redis_client.keys("*")
    )
    sandbox.clear_log()
    flow.client.post("/logout")
    login(flow, "devon")  # a second district login: no token list call, sections prefetched
    assert sandbox.count("token_list") == 0
    assert_tokens_kept_in_scope(sandbox)
    assert len(cards(dashboard(flow))) == 4


def test_a_district_student_with_several_teachers(flow, app, sandbox):
    page = login(flow, "mateo")
    shown = cards(page.text)
    assert len(shown) == 4
    teachers = {
        name for text in shown.values() for name in re.findall(r"[A-Z][\w'ø]+ [\w'-]+", text)
    }
    assert {"Ana Núñez", "Kwame Mensah", "Ingrid Sørensen"} <= teachers
    assert_tokens_kept_in_scope(sandbox)
    assert user_token_paths(sandbox) == {"/v3.0/me", f"/v3.0/users/{seed.MATEO_ID}"}
    # Issue 16: his teachers in one myteachers list (a page of 1000), no class read alone.
    assert [e for e in api_log(sandbox) if e["path"].endswith("/users")] == []
    teachers_reads = [e for e in api_log(sandbox) if e["path"].endswith("/myteachers")]
    assert [e["query"] for e in teachers_reads] == [{"limit": "1000"}]
    with app.app_context():
        students = db.session.scalars(db.select(User.clever_id).filter_by(role="student")).all()
        assert students == [seed.MATEO_ID]  # no classmates


def test_a_district_teacher_with_zero_sections(flow, app, sandbox):
    page = login(flow, "zoe")
    assert cards(page.text) == {} and 'data-testid="empty-state"' in page.text
    assert "No classes yet" in page.text and 'data-testid="no-rosters"' not in page.text
    assert_tokens_kept_in_scope(sandbox)
    assert user_token_paths(sandbox) == {"/v3.0/me", f"/v3.0/users/{seed.ZOE_ID}"}
    zoe = user_of(app, "zoe")
    with app.app_context():
        zoe = db.session.get(User, zoe.id)
        assert zoe.school.name == "Birch Middle" and zoe.district.name == "Maple Grove USD"


# -- Library logins -------------------------------------------------------------------------------


def test_a_library_teacher_reads_with_her_own_token_and_no_paging(flow, app, sandbox):
    page = login(flow, "library")
    shown = cards(page.text)
    assert len(shown) == 3
    body = flow.client.get(class_link(page.text, LIFE_SCIENCE)).get_data(as_text=True)
    rows = re.findall(r'<td class="person-name">([^<]*)</td>', body)
    # Library students: first name and last initial, read as "Amara K."
    assert len(rows) == 20 and all(re.fullmatch(r".+ .\.", row) for row in rows)
    assert "Course:" not in body and "Term:" not in body  # a Library app is never told them
    assert_tokens_kept_in_scope(sandbox)
    log = api_log(sandbox)
    assert {e["token_kind"] for e in log} == {"library_user"}
    assert all(e["query"] == {} for e in log if not e["path"].endswith("/users"))
    assert not any(e["path"].startswith(("/v3.0/schools", "/v3.0/districts", "/v3.0/terms",
                                         "/v3.0/courses")) for e in log)  # fmt: skip
    assert user_of(app, "library").authorized_by == "teacher"


def test_a_library_login_keeps_the_token_list_it_sent_beside_me(flow, app, sandbox):
    # A first login cannot know its world before /me answers, so it lists the district-app
    # tokens beside /me; a Library login keeps that answer too, and the next login asks none.
    login(flow, "library")
    assert sandbox.count("token_list") == 1
    sandbox.clear_log()
    flow.client.post("/logout")
    login(flow, "library")
    assert sandbox.count("token_list") == 0
    assert_tokens_kept_in_scope(sandbox)


def test_a_library_student(flow, app, sandbox):
    page = login(flow, "library_student")
    (card,) = cards(page.text).values()
    assert "Hana Kobayashi" in card
    assert_tokens_kept_in_scope(sandbox)
    assert {e["token_kind"] for e in api_log(sandbox)} == {"library_user"}


# -- the day the district connects the app ---------------------------------------------------------


def test_library_to_district_keeps_the_account_classes_selection_and_history(flow, app, sandbox):
    page = login(flow, "library")
    before = user_of(app, "library")
    assert before.authorized_by == "teacher"
    with app.app_context():
        olympiad = db.session.scalar(db.select(Section).filter_by(name="Science Olympiad Prep"))
        kept = [s.id for s in db.session.scalars(db.select(Section)) if s.id != olympiad.id]
    # She hides one class, then her district connects the app at district level.
    flow.client.post("/classes/selection", data={"section_ids": [str(i) for i in kept]})
    sandbox.connect_district()
    flow.client.post("/logout")
    sandbox.clear_log()
    page = login(flow, "library")
    after = user_of(app, "library")
    assert after.id == before.id and after.authorized_by == "district"
    shown = cards(page.text)
    assert set(shown) == {LIFE_SCIENCE, "7th Grade Life Science - Kobayashi - 4"}
    assert "1 more class is hidden" in text_of(page.text)
    body = flow.client.get(class_link(page.text, LIFE_SCIENCE)).get_data(as_text=True)
    assert "Course: Life Science 7" in body and "Lakeview Middle School" in body
    assert "Okonkwo, Amara" in body  # full names now
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Section.id))) == 3  # same rows
        assert db.session.scalar(db.select(db.func.count(User.id)).filter_by(role="teacher")) == 1
    assert runs_of(app, "library")[0] == ("login", "ok")  # history kept
    assert [status for _, status in runs_of(app, "library")][-1] == "ok"
    assert_tokens_kept_in_scope(sandbox)
    assert user_token_paths(sandbox) == {"/v3.0/me", f"/v3.0/users/{seed.LIBRARY_TEACHER_ID}"}
    assert {e["token_kind"] for e in api_log(sandbox)} == {"district_user", "district_app"}

    # Her student arrives as a district login too, with the same account.
    flow.client.post("/logout")
    page = login(flow, "library_student")
    (card,) = cards(page.text).values()
    assert "Hana Kobayashi" in card
    assert user_of(app, "library_student").authorized_by == "district"
    assert_tokens_kept_in_scope(sandbox)


def test_a_district_that_shares_no_rosters(flow, app, sandbox):
    login(flow, "library")  # a Library teacher with classes first
    sandbox.connect_district(rosters=False)  # then SSO only: no district-app token
    flow.client.post("/logout")
    sandbox.clear_log()
    page = login(flow, "library")
    assert page.status == 200  # the login itself succeeds
    notice = text_of(page.text.split('data-testid="no-rosters"', 1)[1].split("</div>", 1)[0])
    assert "Lakeview Public Schools hasn't shared class rosters with Roster Room" in notice
    assert "Clever administrator" in notice
    assert len(cards(page.text)) == 3  # her classes stay as they were
    assert "No classes yet" not in page.text
    assert_tokens_kept_in_scope(sandbox)
    assert user_token_paths(sandbox) == {
        "/v3.0/me",
        f"/v3.0/users/{seed.LIBRARY_TEACHER_ID}",
        f"/v3.0/districts/{seed.LIBRARY_DISTRICT_ID}",
    }
    assert {e["token_kind"] for e in api_log(sandbox)} == {"district_user"}
    with app.app_context():
        (run,) = [r for r in sync.sync_history(db.session.get(User, user_of(app, "library").id))
                  if r.error]  # fmt: skip
        assert run.error == sync.NO_ROSTERS

    # A student of hers: logged in, told plainly, the class her teacher's import gave kept.
    flow.client.post("/logout")
    page = login(flow, "library_student")
    assert 'data-testid="no-rosters"' in page.text and list(cards(page.text)) == [LIFE_SCIENCE]
    assert "your teacher can ask" in text_of(page.text)
    assert_tokens_kept_in_scope(sandbox)


def test_a_new_teacher_of_a_district_that_shares_no_rosters(flow, app, sandbox):
    sandbox.connect_district(rosters=False)
    page = login(flow, "library")
    assert 'data-testid="no-rosters"' in page.text and cards(page.text) == {}
    assert "No classes yet" not in page.text
    assert_tokens_kept_in_scope(sandbox)
    assert {e["token_kind"] for e in api_log(sandbox)} == {"district_user"}


# -- Sync now after the user token expired ---------------------------------------------------------


def test_sync_now_after_the_user_token_expired(flow, app, sandbox, redis_client):
    login(flow, "ana")
    sandbox.set_clock(2 * 3600 + 60)  # Ana's user token is now expired
    sandbox.clear_log()
    assert flow.client.post("/sync", headers=JSON).status_code == 202
    state = wait_until_idle(flow.client, redis_client, user_of(app, "ana").id)
    assert state["status"] == "ok" and state["total"] == 13
    assert {e["token_kind"] for e in api_log(sandbox)} == {"district_app"}  # no new login
    assert_tokens_kept_in_scope(sandbox)


def test_sync_now_after_the_library_token_expired_asks_for_a_fresh_login(
    flow, app, sandbox, redis_client
):
    login(flow, "library")
    sandbox.set_clock(2 * 3600 + 60)
    assert flow.client.post("/sync", headers=JSON).status_code == 202
    state = wait_until_idle(flow.client, redis_client, user_of(app, "library").id)
    assert state["status"] == "failed" and state["run"]["error"] == "clever_unauthorized_401"
    page = dashboard(flow)
    assert "Log in with Clever again" in page and len(cards(page)) == 3


def test_a_refused_district_app_token_is_listed_again(flow, app, sandbox, redis_client):
    login(flow, "ana")
    sandbox.connect_district(seed.DISTRICT_ID)  # the district reconnected: a new token
    sandbox.clear_log()
    assert flow.client.post("/sync", headers=JSON).status_code == 202
    state = wait_until_idle(flow.client, redis_client, user_of(app, "ana").id)
    assert state["status"] == "ok"
    assert sandbox.count("token_list") == 1
    statuses = [e["status"] for e in sorted(api_log(sandbox), key=lambda e: e["seq"])]
    refused = statuses.count(401)
    assert refused >= 1 and statuses[:refused] == [401] * refused
    assert set(statuses[refused:]) == {200}
    with app.app_context():
        assert tokens.cached_district_token(seed.DISTRICT_ID) == sandbox.district_token()


def test_a_district_that_disconnects_keeps_its_classes(flow, app, sandbox, redis_client):
    login(flow, "ana")
    sandbox.disconnect_district(seed.DISTRICT_ID)
    assert flow.client.post("/sync", headers=JSON).status_code == 202
    state = wait_until_idle(flow.client, redis_client, user_of(app, "ana").id)
    assert state["status"] == "failed" and state["run"]["error"] == sync.NO_ROSTERS
    page = dashboard(flow)
    assert len(cards(page)) == 13 and 'data-testid="no-rosters"' in page


@pytest.mark.parametrize("persona", ["ana", "library"])
def test_sync_now_with_a_live_token_stays_in_scope(flow, app, sandbox, redis_client, persona):
    login(flow, persona)
    sandbox.clear_log()
    assert flow.client.post("/sync", headers=JSON).status_code == 202
    assert wait_until_idle(flow.client, redis_client, user_of(app, persona).id)["status"] == "ok"
    assert_tokens_kept_in_scope(sandbox)
