"""Sync now, progress, history, held syncs and class selection through the app's HTTP routes,
after a real login through the sandbox."""

from __future__ import annotations

import re
import time

import pytest
from sync_helpers import (
    HOMEROOM_ID,
    STUDY_ID,
    ensure_user,
    remove_four_of_six,
    seed_section,
    user_id_of,
)

from clever import roster, sync
from clever.sandbox import seed
from clever.sync import status as sync_status_module
from clever.tokens import delete_token
from models import Section, SyncRun, User, db, utcnow

JSON = {"Accept": "application/json"}
CODING_ID = seed_section("Coding Café")


def login(flow, persona: str) -> None:
    flow.login_with_button(persona)
    assert flow.client.get_cookie("session") is not None


def wait_until_idle(client, redis_client, user_id: int, timeout: float = 30.0) -> dict:
    """Poll /sync/status like the page does until the sync ends and its lock is gone."""
    deadline = time.monotonic() + timeout
    while True:
        state = client.get("/sync/status", headers=JSON).get_json()
        if state["status"] != "running" and not redis_client.exists(sync.lock_key(user_id)):
            return state
        assert time.monotonic() < deadline, f"sync still running: {state}"
        time.sleep(0.05)


def runs_of(app, persona: str) -> list[tuple[str, str]]:
    with app.app_context():
        user = ensure_user(persona)
        return [(r.trigger, r.status) for r in reversed(sync.sync_history(user))]


def test_the_dashboard_asks_redis_for_progress_only_while_a_run_is_under_way(
    flow, app, redis_client, sandbox, monkeypatch
):
    login(flow, "ana")
    client, user_id = flow.client, user_id_of(app, "ana")
    asked: list[str] = []
    redis_of_status = sync_status_module.get_redis
    monkeypatch.setattr(
        sync_status_module, "get_redis", lambda: asked.append("progress") or redis_of_status()
    )
    # The login's run is finished and no other is queued or running: the page's own query
    # says so, and Redis is not asked.
    assert "Syncing classes" not in client.get("/dashboard").get_data(as_text=True)
    assert asked == []
    sandbox.add_fault(path="/v3.0/users/*/sections", delay=0.5)
    assert client.post("/sync", headers=JSON).status_code == 202  # a queued run row at once
    assert "Syncing classes from Clever" in client.get("/dashboard").get_data(as_text=True)
    assert asked == ["progress"]
    wait_until_idle(client, redis_client, user_id)
    asked.clear()
    assert "Syncing classes" not in client.get("/dashboard").get_data(as_text=True)
    assert asked == []
    assert runs_of(app, "ana") == [("login", "ok"), ("manual", "ok")]


def test_sync_now_runs_in_the_background_and_reports_progress(flow, app, redis_client, sandbox):
    login(flow, "ana")
    client, user_id = flow.client, user_id_of(app, "ana")
    # Slow Clever down a little so the sync is still running when we first look.
    sandbox.add_fault(path="/v3.0/sections/*/users", delay=0.05)
    started = time.monotonic()
    response = client.post("/sync", headers=JSON)
    assert response.status_code == 202
    assert time.monotonic() - started < 0.5, "POST /sync must return at once"
    assert response.get_json()["status_url"] == "/sync/status"
    assert client.get("/sync/status", headers=JSON).get_json()["status"] == "running"
    state = wait_until_idle(client, redis_client, user_id)
    assert state["status"] == "ok"
    assert state["done"] == state["total"] == 13
    run = state["run"]
    assert run["trigger"] == "manual" and run["finished_at"].endswith("Z")
    assert (run["added"], run["updated"], run["archived"]) == (0, 0, 0)
    assert runs_of(app, "ana") == [("login", "ok"), ("manual", "ok")]
    # Progress lives in Redis, with a lifetime.
    assert 0 < redis_client.ttl(sync.progress_key(user_id)) <= sync.PROGRESS_SECONDS


def test_a_second_sync_while_one_runs_is_refused(flow, app, redis_client, sandbox):
    login(flow, "ana")
    client = flow.client
    sandbox.add_fault(path="/v3.0/users/*/sections", delay=0.5, times=1)
    assert client.post("/sync", headers=JSON).status_code == 202
    second = client.post("/sync", headers=JSON)
    assert second.status_code == 409
    assert second.get_json()["error"] == "sync_running"
    form_post = client.post("/sync")
    assert form_post.status_code == 303
    page = client.get("/dashboard")
    assert "A sync is already running" in page.get_data(as_text=True)
    wait_until_idle(client, redis_client, user_id_of(app, "ana"))
    assert runs_of(app, "ana") == [("login", "ok"), ("manual", "ok")]


def test_without_javascript_the_dashboard_refreshes_until_done(flow, app, redis_client, sandbox):
    login(flow, "ana")
    client = flow.client
    sandbox.add_fault(path="/v3.0/users/*/sections", delay=0.5, times=1)
    response = client.post("/sync")
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard"
    html = client.get("/dashboard").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in html
    assert re.search(r'<progress id="sync-progress-bar"[^>]*max="\d+"', html)
    assert 'aria-live="polite"' in html and "Syncing classes from Clever" in html
    wait_until_idle(client, redis_client, user_id_of(app, "ana"))
    html = client.get("/dashboard").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in html
    # Wording a teacher reads (the issue replaced "Last sync: 0 added, 0 updated, 0 archived").
    assert "13 classes and 172 students imported, nothing changed since the sync before" in html


def test_the_dashboard_panel(flow, app):
    login(flow, "ana")
    response = flow.client.get("/dashboard")
    html = response.get_data(as_text=True)
    assert "Rosters are imported automatically from Clever" in html
    assert re.search(r"Last synced:\s*<time datetime=", html)
    assert 'action="/sync"' in html and 'name="csrf_token"' in html
    assert 'href="/sync/history"' in html
    assert '<script src="/static/sync.js" defer></script>' in html
    assert "<script>" not in html  # CSP: script-src 'self', no inline scripts
    # The class selection form: every class, with a label and a checkbox each.
    assert "<legend>Classes to show and sync</legend>" in html
    assert html.count('name="section_ids"') == 13
    assert flow.client.get("/static/sync.js").status_code == 200


def test_a_first_time_user_sees_not_yet(app, client):
    with app.app_context():
        user = User(
            first_name="Local",
            last_name="Only",
            role="teacher",
            email="l@example.org",
            school_name="Cedar Elementary",
            onboarded_at=utcnow(),
        )
        db.session.add(user)
        db.session.commit()
        user_id = user.id

    @app.get("/_test/login/<int:uid>")
    def _test_login(uid):
        from clever.sessions import begin_session

        begin_session(db.session.get(User, uid))
        return "ok"

    client.get(f"/_test/login/{user_id}")
    html = client.get("/dashboard").get_data(as_text=True)
    assert re.search(r"Last synced:\s*not yet", html)
    response = client.post("/sync", headers=JSON)
    assert response.status_code == 409 and response.get_json()["error"] == "no_clever"
    assert client.get("/sync/status", headers=JSON).get_json() == {
        "status": "idle",
        "done": 0,
        "total": 0,
        "run": None,
    }


def test_a_district_login_syncs_without_its_own_token(flow, app, redis_client, sandbox):
    """A district login's roster is read with the district-app token: Sync now needs no
    user token at all (not even one that is still live)."""
    login(flow, "ana")
    with app.app_context():
        delete_token(ensure_user("ana").id)
    sandbox.clear_log()
    response = flow.client.post("/sync", headers=JSON)
    assert response.status_code == 202
    state = wait_until_idle(flow.client, redis_client, user_id_of(app, "ana"))
    assert state["status"] == "ok" and state["total"] == 13
    log = sandbox.requests_log(kind="api")
    assert log and {e["token_kind"] for e in log} == {"district_app"}


def test_without_a_clever_token_a_library_user_is_asked_to_log_in_again(flow, app):
    login(flow, "library_student")  # a Library login (no onboarding for students)
    with app.app_context():
        delete_token(ensure_user("library_student").id)
    response = flow.client.post("/sync", headers=JSON)
    assert response.status_code == 409
    assert response.get_json()["error"] == "clever_login_needed"
    assert "Log in with Clever again" in response.get_json()["message"]
    flow.client.post("/sync")
    assert "Log in with Clever again" in flow.client.get("/dashboard").get_data(as_text=True)


def test_class_selection_changes_what_is_shown_and_fetched(flow, app, redis_client, sandbox):
    login(flow, "ana")
    client = flow.client
    with app.app_context():
        ana = ensure_user("ana")
        big = db.session.scalar(db.select(Section).filter_by(clever_id=seed.BIG_SECTION_ID))
        keep = [s.id for s in roster.classes_for_teacher(ana) if s.id != big.id]
        big_id = big.id
    response = client.post("/classes/selection", data={"section_ids": keep})
    assert response.status_code == 303
    html = client.get("/dashboard").get_data(as_text=True)
    assert "Saved your class selection" in html
    assert html.count('name="section_ids"') == 13  # the form still lists every class
    assert html.count(" checked>") == 12
    with app.app_context():
        assert big_id not in [s.id for s in roster.classes_for_teacher(ensure_user("ana"))]
    sandbox.clear_log()
    client.post("/sync", headers=JSON)
    state = wait_until_idle(client, redis_client, user_id_of(app, "ana"))
    assert state["status"] == "ok" and state["total"] == 12
    big_requests = f"/v3.0/sections/{seed.BIG_SECTION_ID}"
    assert sandbox.requests_log(kind="api", path_prefix=big_requests) == []
    # Selecting it again brings it back and syncs it straight away.
    sandbox.clear_log()
    client.post("/classes/selection", data={"section_ids": [*keep, big_id]})
    state = wait_until_idle(client, redis_client, user_id_of(app, "ana"))
    assert state["total"] == 13
    assert sandbox.requests_log(kind="api", path_prefix=big_requests)


def test_a_teacher_cannot_select_someone_elses_class(flow, app):
    login(flow, "zoe")
    with app.app_context():
        other = Section(clever_id="not-hers", name="Not hers")
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    assert (
        flow.client.post("/classes/selection", data={"section_ids": [other_id]}).status_code == 303
    )
    with app.app_context():
        assert roster.classes_for_teacher(ensure_user("zoe"), include_unselected=True) == []


def test_a_student_cannot_choose_classes(flow, app, redis_client):
    login(flow, "mateo")
    assert flow.client.post("/classes/selection", data={"section_ids": ["1"]}).status_code == 403
    assert "Classes to show and sync" not in flow.client.get("/dashboard").get_data(as_text=True)
    # A student may still refresh their own classes and see their own history.
    assert flow.client.post("/sync", headers=JSON).status_code == 202
    state = wait_until_idle(flow.client, redis_client, user_id_of(app, "mateo"))
    assert state["status"] == "ok" and state["total"] == 4
    assert flow.client.get("/sync/history").status_code == 200
    assert flow.client.get("/sync/held/1").status_code == 403


def test_history_lists_runs(flow, app, redis_client):
    login(flow, "ana")
    flow.client.post("/sync", headers=JSON)
    wait_until_idle(flow.client, redis_client, user_id_of(app, "ana"))
    html = flow.client.get("/sync/history").get_data(as_text=True)
    teacher_view, it_view = html.split('data-testid="it-details"', 1)
    assert teacher_view.count("<tr>") == 3  # header + two runs
    assert "At login" in teacher_view and "Sync now" in teacher_view and "Done" in teacher_view
    # Request counts and raw codes are kept for IT behind a details toggle, not in the table.
    assert "Clever requests" not in teacher_view and "Clever requests" in it_view
    assert it_view.count("<tr>") == 3


def study_section(app) -> tuple[int, str, int]:
    """Independent Study's id, name and active students."""
    with app.app_context():
        study = db.session.scalar(db.select(Section).filter_by(clever_id=STUDY_ID))
        return study.id, study.name, len(roster.section_students(study))


def test_a_held_class_with_other_changes_in_one_sync(flow, app, redis_client, sandbox):
    login(flow, "ana")
    client, user_id = flow.client, user_id_of(app, "ana")
    remove_four_of_six(sandbox)
    sandbox.mutate("rename_section", section_id=CODING_ID, name="Coding Café (renamed)")
    sandbox.mutate("remove_section", section_id=HOMEROOM_ID)
    client.post("/sync", headers=JSON)
    state = wait_until_idle(client, redis_client, user_id)
    assert state["status"] == "held" and state["run"]["archived"] == 2  # Homeroom, Ana's link
    run_id = state["run"]["id"]
    study_id, study_name, students = study_section(app)
    assert students == 6, "the held class keeps its roster"
    html = client.get("/dashboard").get_data(as_text=True)
    assert "Coding Café (renamed)" in html and "Homeroom 4B" not in html
    # One notice on the held class's card, with the review link, and one on its page.
    assert html.count('data-testid="class-held"') == 1
    (card,) = [c for c in html.split('data-testid="class-card"') if f"/classes/{study_id}" in c]
    assert 'data-testid="class-held"' in card
    page = client.get(f"/classes/{study_id}").get_data(as_text=True)
    assert 'data-testid="class-held"' in page and f"/sync/held/{run_id}" in page
    review = client.get(f"/sync/held/{run_id}").get_data(as_text=True)
    assert review.count("<td>") == 4, "only the held class is listed"
    assert study_name.split(",")[0] in review and "Apply the changes" in review


def test_held_sync_review_confirm_and_dismiss(flow, app, redis_client, sandbox):
    login(flow, "ana")
    client, user_id = flow.client, user_id_of(app, "ana")
    removed = remove_four_of_six(sandbox)
    client.post("/sync", headers=JSON)
    state = wait_until_idle(client, redis_client, user_id)
    assert state["status"] == "held"
    run_id = state["run"]["id"]
    html = client.get("/dashboard").get_data(as_text=True)
    assert "1 class waiting for your review" in html and f"/sync/held/{run_id}" in html
    review = client.get(f"/sync/held/{run_id}").get_data(as_text=True)
    study_id, study_name, _ = study_section(app)
    assert study_name.split(",")[0] in review and "Apply the changes" in review

    # Dismiss: nothing applied, the notice goes away; the class says its roster was kept.
    assert client.post(f"/sync/held/{run_id}/dismiss").status_code == 303
    html = client.get("/dashboard").get_data(as_text=True)
    assert "waiting for your review" not in html and 'data-testid="class-kept"' in html
    with app.app_context():
        assert db.session.get(SyncRun, run_id).status == "dismissed"
    assert study_section(app)[2] == 6
    assert client.post(f"/sync/held/{run_id}/confirm", headers=JSON).status_code == 409

    # Kept: a new login and a Sync now do not ask again, and the roster stays kept.
    login(flow, "ana")
    client.post("/sync", headers=JSON)
    assert wait_until_idle(client, redis_client, user_id)["status"] == "ok"
    assert runs_of(app, "ana")[-3:] == [("manual", "dismissed"), ("login", "ok"), ("manual", "ok")]
    assert study_section(app)[2] == 6
    assert "waiting for your review" not in client.get("/dashboard").get_data(as_text=True)

    # A further change asks again; this time the teacher confirms.
    fifth = [s for s in seed.student_ids_in(STUDY_ID) if s not in removed][0]
    sandbox.mutate("remove_student", section_id=STUDY_ID, user_id=fifth)
    client.post("/sync", headers=JSON)
    state = wait_until_idle(client, redis_client, user_id)
    assert state["status"] == "held"
    run_id = state["run"]["id"]
    response = client.post(f"/sync/held/{run_id}/confirm", headers=JSON)
    assert response.status_code == 202
    state = wait_until_idle(client, redis_client, user_id)
    assert state["status"] == "ok" and state["run"]["archived"] == 5
    with app.app_context():
        assert db.session.get(SyncRun, run_id).status == "confirmed"
    assert study_section(app)[2] == 1
    assert 'data-testid="class-kept"' not in client.get("/dashboard").get_data(as_text=True)


def test_someone_elses_held_sync_is_not_found(flow, app, sandbox):
    run_id = None
    with app.app_context():
        devon = ensure_user("devon")
        run = SyncRun(user_id=devon.id, trigger="login", status="held", held_changes="{}")
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    login(flow, "ana")
    assert flow.client.get(f"/sync/held/{run_id}").status_code == 404
    assert flow.client.post(f"/sync/held/{run_id}/confirm").status_code == 404
    assert flow.client.post(f"/sync/held/{run_id}/dismiss").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("post", "/sync", 401),
        ("get", "/sync/status", 401),
        ("get", "/sync/history", 401),
        ("get", "/sync/held/1", 401),
        ("post", "/sync/held/1/confirm", 401),
        ("post", "/sync/held/1/dismiss", 401),
        ("post", "/classes/selection", 302),
    ],
)
def test_sync_views_require_login(client, method, path, expected):
    response = getattr(client, method)(path)
    assert response.status_code == expected
    if expected == 302:
        assert response.headers["Location"].endswith("/login")


def test_an_expired_clever_token_asks_for_a_fresh_login(flow, app, sandbox):
    login(flow, "zoe")  # a teacher: students have no sync panel (issue 14)
    sandbox.add_fault(path="/v3.0/users/*/sections", status=401)
    assert flow.client.post("/sync", headers={"Accept": "application/json"}).status_code == 202
    deadline = time.time() + 20
    while time.time() < deadline:
        state = flow.client.get("/sync/status").json
        if state["status"] != "running":
            break
        time.sleep(0.1)
    assert state["status"] == "failed"
    assert state["run"]["error"].startswith("clever_unauthorized")
    page = flow.client.get("/dashboard").get_data(as_text=True)
    assert "Log in with Clever again" in page
