"""Roster sync when Clever or the database misbehaves: all or nothing.

Each failing case starts from a clean sync, changes the roster in the sandbox (so a partial
apply would show), injects a fault, and checks: the database is exactly as before (every table
but sync_runs), a failed SyncRun with a short code is recorded, and the next clean sync works.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy.exc import OperationalError
from sync_helpers import HOMEROOM_ID, access_of, dump_roster, ensure_user, run_sync, user_id_of

from clever import sync
from clever.sandbox import seed
from models import Section, SyncRun, User, db

# Changed with issue 16: every student of Ana's in one list (paged), no longer class by class.
ANA_STUDENTS = f"/v3.0/users/{seed.ANA_ID}/mystudents"
RENAMED = seed.student_ids_in(HOMEROOM_ID)[2]


@pytest.fixture
def fast_failures(app):
    """Few, quick retries: the faults below would otherwise take the client's full patience.
    Pages of 50, so Ana's students have a page 2 to fail on (1000 reads them in one)."""
    app.config.update(CLEVER_MAX_RETRIES=1, CLEVER_RETRY_BACKOFF=0.05, CLEVER_PAGE_SIZE=50)
    return app


@pytest.fixture
def synced(app, sandbox, fast_failures):
    """Ana synced cleanly, then the roster changes in Clever; returns the dump before."""
    assert run_sync(app, sandbox, "ana")["status"] == "ok"
    sandbox.mutate("rename_user", user_id=RENAMED, first="Renamed", last="Student")
    sandbox.mutate("remove_student", section_id=seed.BIG_SECTION_ID, user_id=seed.MATEO_ID)
    sandbox.clear_log()
    return dump_roster(app)


def failed_runs(app) -> list[SyncRun]:
    with app.app_context():
        runs = db.session.scalars(db.select(SyncRun).filter_by(status="failed")).all()
        db.session.expunge_all()
        return runs


def assert_next_clean_sync_applies(app, sandbox):
    sandbox.clear_faults()
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok", run
    assert run["updated"] == 1 and run["archived"] == 1
    with app.app_context():
        student = db.session.scalar(db.select(User).filter_by(clever_id=RENAMED))
        assert student.first_name == "Renamed"


def reset_in(seconds: int) -> dict[str, str]:
    return {"X-RateLimit-Reset": str(int(time.time()) + seconds)}


# case -> (fault spec, made when the test runs; the error code recorded on the run)
FAULTS = {
    # 500 on the second page of Ana's students, every time (retries cannot help).
    "server_error_at_page_2": (
        lambda: dict(path=ANA_STUDENTS, status=500, at_page=2),
        "clever_server_error_500",
    ),
    "html_body": (
        lambda: dict(path=ANA_STUDENTS, html=True, status=200),
        "clever_bad_response_200",
    ),
    "truncated_json": (
        lambda: dict(path=ANA_STUDENTS, truncate=True, at_page=2),
        "clever_bad_response_200",
    ),
    "dropped_connections": (lambda: dict(path=ANA_STUDENTS, drop=True), "clever_connection"),
    # Clever says "come back in an hour": longer than the client will ever wait.
    "rate_limit_storm": (
        lambda: dict(path=ANA_STUDENTS, rate_storm=50, headers=reset_in(3600)),
        "clever_rate_limited_429",
    ),
    "sections_list_fails": (
        lambda: dict(path=f"/v3.0/users/{seed.ANA_ID}/sections", status=503),
        "clever_server_error_503",
    ),
}


@pytest.mark.parametrize("case", list(FAULTS))
def test_a_clever_failure_changes_nothing(app, sandbox, synced, case):
    make_spec, code = FAULTS[case]
    sandbox.add_fault(**make_spec())
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "failed"
    assert run["error"] == code
    assert run["finished_at"] and run["duration_ms"] is not None and run["api_calls"] > 0
    assert dump_roster(app) == synced
    assert [r.error for r in failed_runs(app)] == [code]
    assert_next_clean_sync_applies(app, sandbox)


def test_a_timeout_changes_nothing(app, sandbox, synced):
    app.config["CLEVER_HTTP_TIMEOUT"] = (1.0, 0.3)
    sandbox.add_fault(path=ANA_STUDENTS, delay=1.0)
    run = run_sync(app, sandbox, "ana")
    assert (run["status"], run["error"]) == ("failed", "clever_timeout")
    assert dump_roster(app) == synced
    app.config["CLEVER_HTTP_TIMEOUT"] = (3.05, 10.0)
    assert_next_clean_sync_applies(app, sandbox)


def test_a_short_429_storm_is_waited_out(app, sandbox, synced):
    # Two 429s in a row, each saying "reset in about a second": the client waits, then goes on.
    sandbox.add_fault(path=ANA_STUDENTS, rate_storm=2)
    started = time.monotonic()
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok", run
    assert time.monotonic() - started >= 0.5
    limited = [r for r in sandbox.requests_log(kind="api") if r["status"] == 429]
    assert len(limited) == 2
    assert run["updated"] == 1 and run["archived"] == 1


@pytest.mark.parametrize(
    "spec", [dict(status=500, times=1), dict(drop=True, times=1), dict(status=502, times=1)]
)
def test_one_transient_failure_is_retried(app, sandbox, synced, spec):
    sandbox.add_fault(path=ANA_STUDENTS, **spec)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok", run
    assert run["archived"] == 1


def test_a_section_deleted_between_listing_and_reading_is_archived(app, sandbox, synced):
    # A 404 on one class does not stop the sync: the class is simply gone. (Issue 16: classes
    # are read one by one only when Clever refuses mystudents, as here.)
    sandbox.add_fault(path=ANA_STUDENTS, status=403)
    sandbox.add_fault(path=f"/v3.0/sections/{HOMEROOM_ID}/users", status=404)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok" and run["sections_total"] == 12
    with app.app_context():
        homeroom = db.session.scalar(db.select(Section).filter_by(clever_id=HOMEROOM_ID))
        assert homeroom.archived_at is not None


def test_a_database_error_mid_apply_rolls_everything_back(app, sandbox, synced, monkeypatch):
    original = sync.Apply.enrollments

    def enrollments_then_fail(self):
        original(self)
        db.session.flush()  # the changes reached the database inside the transaction...
        raise OperationalError("UPDATE enrollments", {}, Exception("disk I/O error"))

    monkeypatch.setattr(sync.Apply, "enrollments", enrollments_then_fail)
    run = run_sync(app, sandbox, "ana")
    assert (run["status"], run["error"]) == ("failed", "database_error")
    assert dump_roster(app) == synced  # ...and are gone after the rollback
    monkeypatch.undo()
    assert_next_clean_sync_applies(app, sandbox)


class Deadlock(Exception):
    sqlstate = "40P01"  # what psycopg reports when PostgreSQL breaks a deadlock


def abort_apply(monkeypatch, times: int, error: Exception) -> list[int]:
    """The database aborts the apply's transaction ``times`` times, after its writes."""
    original, calls = sync.Apply.enrollments, []

    def enrollments_then_abort(self):
        original(self)
        db.session.flush()
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("INSERT INTO enrollments", {}, error)

    monkeypatch.setattr(sync.Apply, "enrollments", enrollments_then_abort)
    return calls


@pytest.mark.parametrize("error", [Deadlock("deadlock detected"), Exception("database is locked")])
def test_an_apply_the_database_aborts_is_applied_again(app, sandbox, synced, monkeypatch, error):
    calls = abort_apply(monkeypatch, 2, error)
    run = run_sync(app, sandbox, "ana")
    assert (run["status"], len(calls)) == ("ok", 3)
    # Applied once, from scratch: the counts of one clean apply, not three.
    assert (run["updated"], run["archived"]) == (1, 1)
    with app.app_context():
        renamed = db.session.scalar(db.select(User).filter_by(clever_id=RENAMED))
        assert renamed.first_name == "Renamed"


def test_an_apply_aborted_every_time_fails_after_a_few_tries(app, sandbox, synced, monkeypatch):
    calls = abort_apply(monkeypatch, 99, Deadlock("deadlock detected"))
    run = run_sync(app, sandbox, "ana")
    assert (run["status"], run["error"]) == ("failed", "database_error")
    assert len(calls) == sync.runs.APPLY_ATTEMPTS
    assert dump_roster(app) == synced


def test_a_failed_first_sync_leaves_an_empty_roster(app, sandbox, fast_failures):
    with app.app_context():
        ensure_user("ana")
    before = dump_roster(app)
    sandbox.add_fault(path=ANA_STUDENTS, status=500, at_page=2)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "failed"
    assert dump_roster(app) == before
    with app.app_context():
        status = sync.sync_status(ensure_user("ana"))
        assert status["status"] == "failed" and status["run"]["error"] == run["error"]


def test_the_error_code_carries_no_personal_data_or_token(app, sandbox, synced):
    token = sandbox.district_token()  # what reads Ana's roster
    sandbox.add_fault(path=ANA_STUDENTS, status=500, body={"message": "Ana Núñez " + token})
    with app.app_context():
        user = ensure_user("ana")
        outcome = sync.sync_user(user, access_of(sandbox, "ana"), "manual")
        assert outcome.failed and outcome.error == "clever_server_error_500"
        run = db.session.get(SyncRun, outcome.run_id)
        assert run.error == "clever_server_error_500"
        assert run.held_changes is None


def test_login_still_succeeds_when_the_sync_fails(flow, app, sandbox):
    sandbox.add_fault(path="/v3.0/users/*/sections", status=500)
    page = flow.login_with_button("ana")
    assert page.status == 200
    if page.url.endswith("/account/link"):
        page = flow.go_form(page, "No, I'm new")
    # Said once, in the sync panel: not a flash and a panel saying the same thing.
    assert page.url.endswith("/dashboard")
    assert page.text.count("refresh your classes") == 1 and "couldn" in page.text
    history = flow.client.get("/sync/history").get_data(as_text=True)
    teacher_view, it_view = history.split('data-testid="it-details"', 1)
    assert "Couldn't finish" in teacher_view and "clever_server_error" not in teacher_view
    assert "<code>clever_server_error_500</code>" in it_view
    with app.app_context():
        (run,) = sync.sync_history(ensure_user("ana"))
        assert (run.trigger, run.status) == ("login", "failed")
    assert user_id_of(app, "ana")


def test_a_student_whose_login_sync_fails_is_told_once(flow, app, sandbox):
    sandbox.add_fault(path="/v3.0/users/*/sections", status=500)
    page = flow.login_with_button("mateo")
    assert page.url.endswith("/dashboard")
    assert page.text.count("refresh your classes") == 1  # the flash: students have no panel
    assert "Sync now" not in page.text
