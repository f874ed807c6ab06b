"""The read plan of issue 16 over real HTTP: which Clever requests a login or a sync sends.

A teacher: sections and ``mystudents`` beside ``/users/{id}``, then only the co-teachers not
read yet (as few ``/sections/{id}/users?role=teacher`` reads as cover them: a Library token may
not read another teacher's ``/users/{id}``). A student: sections and ``myteachers``. Classes are
read one by one only when Clever refuses the bulk list or it falls short. District and school
records, and term and course names, are read at most once a day.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from sync_helpers import (
    SEED,
    access_of,
    api_requests,
    count_writes,
    dump_roster,
    ensure_user,
    run_sync,
    section_row,
    seed_section,
)
from test_dashboard import cards
from test_two_worlds import PAGING, assert_tokens_kept_in_scope, login

from clever import roster, sync
from clever.sandbox import seed
from clever.sessions import get_redis
from clever.sync import apply as apply_module
from models import District, School, db, utcnow

ART_ID = seed_section("Art & Música")  # Ana, Kwame Mensah and Ingrid Sørensen: only there
ANA_STUDENTS = f"/v3.0/users/{seed.ANA_ID}/mystudents"
REFERENCES = ("/v3.0/terms/", "/v3.0/courses/")


def co_teachers_of(user_id: str, skip: tuple[str, ...] = ()) -> set[str]:
    return {
        tid
        for sid in seed.section_ids_for(user_id)
        if sid not in skip
        for tid in SEED.sections[sid]["teachers"]
        if tid != user_id
    }


def section_reads(sandbox) -> list[dict]:
    return [e for e in api_requests(sandbox, "/v3.0/sections/") if e["path"].endswith("/users")]


def test_the_seed_has_the_co_teachers_these_tests_count():
    assert co_teachers_of(seed.ANA_ID) == {seed.DEVON_ID, seed.MENSAH_ID, seed.SORENSEN_ID}
    assert set(SEED.sections[ART_ID]["teachers"]) == {
        seed.ANA_ID,
        seed.MENSAH_ID,
        seed.SORENSEN_ID,
    }
    assert co_teachers_of(seed.ANA_ID, skip=(ART_ID,)) == {seed.DEVON_ID}


def test_a_returning_library_teacher_login_makes_five_calls_plus_the_co_teachers(flow, sandbox):
    # Ana's district disconnects: she logs in through the Library, with her own token.
    sandbox.disconnect_district(seed.DISTRICT_ID)
    assert len(cards(login(flow, "ana").text)) == 13
    flow.client.post("/logout")
    sandbox.clear_log()
    page = flow.login_with_button("ana")
    assert len(cards(page.text)) == 13
    assert "Kwame Mensah" in page.text and "Devon O&#39;Hara" in page.text
    exchanges = sandbox.requests_log(kind="token")
    api = api_requests(sandbox)
    assert len(exchanges) == 1 and {e["token_kind"] for e in api} == {"library_user"}
    paths = sorted(e["path"] for e in api if not e["path"].endswith("/users"))
    assert paths == sorted(
        ["/v3.0/me", f"/v3.0/users/{seed.ANA_ID}", f"/v3.0/users/{seed.ANA_ID}/sections",
         ANA_STUDENTS]
    )  # fmt: skip
    # The co-teachers: Art & Música names two of the three, one more read names Devon. That is
    # 5 + 2 requests, within the target of 5 + one per distinct co-teacher (3).
    reads = section_reads(sandbox)
    assert [e["query"] for e in reads] == [{"role": "teacher"}, {"role": "teacher"}]
    assert ART_ID in {e["path"].split("/")[3] for e in reads}
    assert len(exchanges) + len(api) == 5 + 2 <= 5 + len(co_teachers_of(seed.ANA_ID))
    # A user token never pages: no limit on mystudents, nothing out of scope.
    assert_tokens_kept_in_scope(sandbox)


def test_a_district_login_pages_mystudents_with_limit_and_the_user_token_never(flow, sandbox):
    login(flow, "ana")
    api = api_requests(sandbox)
    # A first login: the role comes with /users/{id}, and the read started then is the one used.
    assert len([e for e in api if e["path"] == f"/v3.0/users/{seed.ANA_ID}/sections"]) == 1
    (students,) = [e for e in api if e["path"] == ANA_STUDENTS]
    assert (students["token_kind"], students["query"]) == ("district_app", {"limit": "1000"})
    user_token_calls = [e for e in api if e["token_kind"] == "district_user"]
    assert user_token_calls and [e for e in user_token_calls if PAGING & set(e["query"])] == []
    assert_tokens_kept_in_scope(sandbox)


@pytest.mark.parametrize("persona", ["mateo", "library_student"])
def test_a_student_login_reads_no_class_on_its_own(flow, app, sandbox, persona):
    page = login(flow, persona)
    assert cards(page.text)
    user_id = seed.PERSONAS[persona].user_id
    assert section_reads(sandbox) == []
    assert len(api_requests(sandbox, f"/v3.0/users/{user_id}/myteachers")) == 1
    assert api_requests(sandbox, f"/v3.0/users/{user_id}/mystudents") == []
    assert_tokens_kept_in_scope(sandbox)


@pytest.mark.parametrize("status", [403, 404])
def test_a_refused_mystudents_falls_back_to_reading_each_class(app, sandbox, status, caplog):
    sandbox.add_fault(path=ANA_STUDENTS, status=status)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok", run
    reads = section_reads(sandbox)
    # Every class once, students and teachers together (plus the co-teacher reads that went
    # out before the refusal arrived, if any): counted in the run's calls.
    whole = {e["path"].split("/")[3] for e in reads if "role" not in e["query"]}
    assert whole == set(seed.section_ids_for(seed.ANA_ID))
    assert run["api_calls"] == len(api_requests(sandbox)) >= 3 + 13
    logged = [r.getMessage() for r in caplog.records if "read one by one" in r.getMessage()]
    assert logged == [f"roster read: 13 of 13 classes read one by one (bulk list refused: "
                      f"{'forbidden' if status == 403 else 'not_found'})"]  # fmt: skip
    # The same roster as the bulk read: a clean sync now changes nothing at all.
    sandbox.clear_faults()
    before = dump_roster(app)
    with count_writes(app) as writes:
        again = run_sync(app, sandbox, "ana")
    assert (again["added"], again["updated"], again["archived"], again["restored"]) == (0,) * 4
    assert writes == [("INSERT", "sync_runs", 1), ("UPDATE", "sync_runs", 1)]
    assert dump_roster(app) == before
    with app.app_context():
        assert len(roster.section_students(section_row(seed.BIG_SECTION_ID))) == 135


def test_a_student_mystudents_left_out_gets_that_class_read_on_its_own(app, sandbox):
    # Clever's mystudents answer leaves out a student who is in one class of Ana's only.
    ana_sections = seed.section_ids_for(seed.ANA_ID)
    classes_of = {
        student: [sid for sid in ana_sections if student in SEED.sections[sid]["students"]]
        for sid in ana_sections
        for student in SEED.sections[sid]["students"]
    }
    missing, (homeroom,) = next((k, v) for k, v in sorted(classes_of.items()) if len(v) == 1)
    run_sync(app, sandbox, "ana")  # the full roster first
    sandbox.clear_log()
    token = sandbox.district_tokens()[seed.DISTRICT_ID]
    students = sandbox_list(sandbox, token, ANA_STUDENTS)
    body = {"data": [{"data": s} for s in students if s["id"] != missing], "links": []}
    sandbox.add_fault(path=ANA_STUDENTS, status=200, body=body)
    before = dump_roster(app)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok"
    assert [e["path"] for e in section_reads(sandbox) if "role" not in e["query"]] == [
        f"/v3.0/sections/{homeroom}/users"
    ]
    assert dump_roster(app) == before  # nobody lost a class


def sandbox_list(sandbox, token: str, path: str) -> list[dict]:
    response = requests.get(
        sandbox.url + path, params={"limit": 10000}, headers={"Authorization": f"Bearer {token}"}
    )
    response.raise_for_status()
    return [element["data"] for element in response.json()["data"]]


def test_an_unselected_class_is_not_read_for_its_only_co_teachers(app, sandbox):
    run_sync(app, sandbox, "ana")
    with app.app_context():
        ana = ensure_user("ana")
        art = section_row(ART_ID)
        keep = [s.id for s in roster.classes_for_teacher(ana) if s.id != art.id]
        roster.save_class_selection(ana, keep)
    sandbox.clear_log()
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok" and run["sections_total"] == 12
    reads = section_reads(sandbox)
    assert [e["query"] for e in reads] == [{"role": "teacher", "limit": "1000"}]  # Devon's
    assert ART_ID not in reads[0]["path"]
    assert api_requests(sandbox, f"/v3.0/users/{seed.MENSAH_ID}") == []
    assert api_requests(sandbox, f"/v3.0/users/{seed.SORENSEN_ID}") == []


def organisation_reads(sandbox) -> list[str]:
    return [
        e["path"]
        for e in api_requests(sandbox)
        if e["path"].startswith(("/v3.0/districts/", "/v3.0/schools/"))
    ]


def test_district_and_school_records_are_read_at_most_once_a_day(app, sandbox):
    run_sync(app, sandbox, "ana")
    first = organisation_reads(sandbox)
    assert f"/v3.0/districts/{seed.DISTRICT_ID}" in first
    assert f"/v3.0/schools/{seed.CEDAR_ID}" in first
    sandbox.clear_log()
    assert run_sync(app, sandbox, "ana")["status"] == "ok"
    assert organisation_reads(sandbox) == []  # read less than a day ago
    with app.app_context():
        ana = ensure_user("ana")
        assert ana.school.clever_id == seed.CEDAR_ID  # kept as they were
        assert ana.district.clever_id == seed.DISTRICT_ID
        # A day later (moved through the stored time, not by waiting): read again.
        a_day_ago = utcnow() - timedelta(hours=24, minutes=1)
        db.session.execute(db.update(District).values(clever_read_at=a_day_ago))
        db.session.execute(db.update(School).values(clever_read_at=a_day_ago))
        db.session.commit()
    sandbox.clear_log()
    sandbox.mutate("rename_school", school_id=seed.CEDAR_ID, name="Cedar Elementary School")
    assert run_sync(app, sandbox, "ana")["status"] == "ok"
    assert sorted(organisation_reads(sandbox)) == sorted(first)
    with app.app_context():
        assert ensure_user("ana").school.name == "Cedar Elementary School"
        read_at = db.session.scalar(db.select(School.clever_read_at).filter_by(
            clever_id=seed.CEDAR_ID))  # fmt: skip
        assert read_at.replace(tzinfo=read_at.tzinfo or a_day_ago.tzinfo) > a_day_ago


def test_term_and_course_names_are_read_at_most_once_a_day(app, sandbox):
    run_sync(app, sandbox, "ana")
    read = [p for p in (e["path"] for e in api_requests(sandbox)) if p.startswith(REFERENCES)]
    courses = {SEED.sections[sid]["course"] for sid in seed.section_ids_for(seed.ANA_ID)}
    assert len([p for p in read if p.startswith("/v3.0/courses/")]) == len(courses) > 1
    sandbox.clear_log()
    assert run_sync(app, sandbox, "ana")["status"] == "ok"
    assert [e["path"] for e in api_requests(sandbox) if e["path"].startswith(REFERENCES)] == []
    with app.app_context():
        assert section_row(seed.BIG_SECTION_ID).course_name == "Grade 4 Math"  # kept
        client = get_redis()
        keys = [sync.NameCache.key("courses", course) for course in courses]
        ttls = [client.ttl(key) for key in keys]
        assert all(23 * 3600 < ttl <= 24 * 3600 for ttl in ttls), ttls
        client.delete(*keys)  # a day later, they expire
    sandbox.clear_log()
    assert run_sync(app, sandbox, "ana")["status"] == "ok"
    again = [e["path"] for e in api_requests(sandbox) if e["path"].startswith("/v3.0/courses/")]
    assert len(again) == len(courses)


def test_what_a_library_teacher_token_may_read_of_its_co_teachers(app, sandbox):
    """Why co-teachers are read through their sections: the sandbox, as strict as the
    reference (5.3), lets a Library teacher read their students and sections, not another
    teacher's record; and never a paging parameter."""
    sandbox.disconnect_district(seed.DISTRICT_ID)
    headers = {"Authorization": f"Bearer {sandbox.issue_token('ana')}"}

    def status(path: str, **params: str) -> int:
        return requests.get(sandbox.url + path, params=params, headers=headers).status_code

    assert status(ANA_STUDENTS) == 200
    assert status(ANA_STUDENTS, limit="1000") == 400
    assert status(f"/v3.0/users/{seed.DEVON_ID}") == 404
    assert status(f"/v3.0/sections/{ART_ID}/users", role="teacher") == 200


# -- our own work while the last answers are out ------------------------------------------------


@pytest.fixture
def row_reads(monkeypatch) -> list[float]:
    """When each apply read the rows it compares against (``Apply.load_sections`` starts it)."""
    moments: list[float] = []
    read_rows = apply_module.Apply.load_sections

    def load_sections(self):
        moments.append(time.time())
        return read_rows(self)

    monkeypatch.setattr(apply_module.Apply, "load_sections", load_sections)
    return moments


def test_the_rows_are_read_while_the_co_teachers_are_on_their_way(app, sandbox, row_reads):
    run_sync(app, sandbox, "ana")  # the account and its classes exist
    row_reads.clear()
    sandbox.clear_log()
    sandbox.add_fault(path="/v3.0/sections/*/users", delay=0.3)  # only co-teachers go there
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok" and (run["added"], run["updated"], run["archived"]) == (0, 0, 0)
    co_teachers = section_reads(sandbox)
    assert co_teachers and all(e["query"].get("role") == "teacher" for e in co_teachers)
    # Read once, before the first co-teacher's answer: the apply took the rows it had read.
    assert len(row_reads) == 1
    assert row_reads[0] < min(e["ended"] for e in co_teachers)


def test_rows_read_ahead_for_other_classes_are_read_again(app, sandbox, row_reads):
    run_sync(app, sandbox, "ana")
    row_reads.clear()
    # A class deleted between the sections list and its co-teacher read (404): the outline
    # named it, the snapshot does not, so the apply reads its rows afresh.
    sandbox.add_fault(path=f"/v3.0/sections/{ART_ID}/users", status=404, delay=0.3)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok" and run["sections_total"] == 12
    assert len(row_reads) == 2


def most_at_once(entries: list[dict]) -> int:
    """The most requests of ``entries`` that were in the sandbox at the same moment."""
    edges = sorted([(e["time"], 1) for e in entries] + [(e["ended"], -1) for e in entries])
    at_once = highest = 0
    for _, step in edges:
        at_once += step
        highest = max(highest, at_once)
    return highest


def test_a_read_keeps_at_most_sync_concurrency_requests_in_flight(app, sandbox, monkeypatch):
    # The process's reader threads are shared by every read; each read queues its own beyond
    # SYNC_CONCURRENCY. Thirteen classes read one by one, two at a time, all of them read.
    monkeypatch.setitem(app.config, "SYNC_CONCURRENCY", 2)
    sandbox.add_fault(path=ANA_STUDENTS, status=403)
    sandbox.add_fault(path="/v3.0/sections/*/users", delay=0.05)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok" and run["sections_total"] == 13
    reads = section_reads(sandbox)
    assert {e["path"].split("/")[3] for e in reads} == set(seed.section_ids_for(seed.ANA_ID))
    assert most_at_once(reads) == 2


def test_after_a_failed_request_a_read_sends_nothing_more(app, sandbox, monkeypatch):
    monkeypatch.setitem(app.config, "SYNC_CONCURRENCY", 1)
    monkeypatch.setitem(app.config, "CLEVER_MAX_RETRIES", 0)
    sandbox.add_fault(path=ANA_STUDENTS, status=403)
    sandbox.add_fault(path="/v3.0/sections/*/users", status=500)
    with app.app_context():
        user = ensure_user("ana")
        outcome = sync.sync_user(user, access_of(sandbox, "ana"), trigger="manual")
    assert outcome.failed
    time.sleep(0.2)  # anything still queued would have gone out by now
    assert len(section_reads(sandbox)) == 1  # the first class; the other twelve never sent
