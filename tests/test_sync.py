"""Roster sync against the sandbox over real HTTP: what is read, how it is applied, archives,
restores, class selection, the mass-change guard, and the read helpers the dashboard uses.

The helpers at the top are shared with test_sync_faults.py and test_sync_views.py.
"""

from __future__ import annotations

import pytest
import redis
from flows import base_letter
from sync_helpers import (
    HOMEROOM_ID,
    ROBOTICS_ID,
    SEED,
    STUDY_ID,
    access_of,
    api_requests,
    count_writes,
    dump_roster,
    ensure_user,
    remove_four_of_six,
    run_sync,
    section_row,
    seed_section,
    user_row,
)

from clever import roster, sync
from clever.sandbox import seed
from models import (
    District,
    Enrollment,
    School,
    Section,
    SectionTeacher,
    SyncRun,
    TeacherSectionPreference,
    User,
    db,
)

CODING_ID = seed_section("Coding Café")  # Ana only, 18 students
PE_ID = seed_section("PE and Health")  # Ana only, 30 students


def test_a_teacher_with_no_sections(app, sandbox):
    run = run_sync(app, sandbox, "zoe")
    assert run["status"] == "ok"
    assert run["sections_total"] == 0 and run["added"] == 0
    with app.app_context():
        zoe = ensure_user("zoe")
        assert roster.classes_for_teacher(zoe) == []
        assert db.session.scalar(db.select(db.func.count(Section.id))) == 0
        # Her school and district were filled in even so.
        assert zoe.school.name == "Birch Middle" and zoe.district.name == "Maple Grove USD"
        assert sync.sync_status(zoe)["status"] == "ok"


def test_the_thirteen_section_teacher_with_a_paged_135_student_class(app, sandbox):
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok", run
    assert run["sections_total"] == 13
    # Every request the sync sent reached the sandbox (retries would show here too).
    assert run["api_calls"] == len(api_requests(sandbox))
    # Read with the district-app token, a large limit: all of Ana's students in one request,
    # and no class's students read on their own (the sections' id lists say who is where):
    # section reads only for co-teachers.
    mine = api_requests(sandbox, f"/v3.0/users/{seed.ANA_ID}/mystudents")
    assert [r["query"] for r in mine] == [{"limit": "1000"}]
    section_reads = api_requests(sandbox, "/v3.0/sections/")
    assert [r["query"] for r in section_reads] == [{"role": "teacher", "limit": "1000"}] * len(
        section_reads
    )
    assert {r["token_kind"] for r in api_requests(sandbox)} == {"district_app"}
    assert not any(r["out_of_scope"] for r in api_requests(sandbox))
    with app.app_context():
        ana = ensure_user("ana")
        classes = roster.classes_for_teacher(ana)
        assert len(classes) == 13
        big_section = section_row(seed.BIG_SECTION_ID)
        students = roster.section_students(big_section)
        assert len(students) == 135
        assert {s.clever_id for s in students} == set(seed.student_ids_in(seed.BIG_SECTION_ID))
        assert all(s.role == "student" for s in students)
        # Reading order (UCA, issue 14), not code points: "Ångström" sits among the A's.
        keys = [base_letter(s.last_name) for s in students]
        assert keys == sorted(keys)
        assert ana.school.clever_id == seed.CEDAR_ID
        assert ana.district.clever_id == seed.DISTRICT_ID
        assert db.session.scalar(db.select(db.func.count(District.id))) == 1
        # A class at the user's own school is linked to it.
        assert big_section.school_id == ana.school_id
        # New classes start selected: one preference row each.
        prefs = db.session.scalars(db.select(TeacherSectionPreference)).all()
        assert len(prefs) == 13 and all(p.selected for p in prefs)


def test_a_smaller_page_size_reads_the_students_in_pages(app, sandbox):
    # Changed with issue 16: the students come from mystudents, no longer class by class.
    app.config["CLEVER_PAGE_SIZE"] = 50
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok" and run["api_calls"] == len(api_requests(sandbox))
    pages = api_requests(sandbox, f"/v3.0/users/{seed.ANA_ID}/mystudents")
    students = {s for sid in seed.section_ids_for(seed.ANA_ID) for s in seed.student_ids_in(sid)}
    assert len(pages) == (len(students) + 49) // 50 and len(pages) > 1
    assert all(r["query"]["limit"] == "50" for r in pages)
    assert "starting_after" in pages[-1]["query"]
    with app.app_context():
        assert len(roster.section_students(section_row(seed.BIG_SECTION_ID))) == 135


def test_co_teachers_are_seen_from_both_teachers(app, sandbox):
    assert run_sync(app, sandbox, "ana")["status"] == "ok"
    assert run_sync(app, sandbox, "devon")["status"] == "ok"
    with app.app_context():
        ana, devon = ensure_user("ana"), ensure_user("devon")
        shared = {s.clever_id for s in roster.classes_for_teacher(ana)} & {
            s.clever_id for s in roster.classes_for_teacher(devon)
        }
        co_taught = [
            s for s in seed.section_ids_for(seed.ANA_ID) if s in seed.section_ids_for(seed.DEVON_ID)
        ]
        assert shared == set(co_taught)
        assert len(shared) == 3
        assert len(roster.classes_for_teacher(devon)) == 4
        math = section_row(seed.BIG_SECTION_ID)
        assert [(u.clever_id, p) for u, p in roster.section_teachers(math)] == [
            (seed.ANA_ID, True),
            (seed.DEVON_ID, False),
        ]
        robotics = section_row(ROBOTICS_ID)
        assert roster.section_teachers(robotics)[0] == (devon, True)
        # One row per person and per class, whoever synced first.
        devons = db.select(db.func.count(User.id)).filter_by(clever_id=seed.DEVON_ID)
        assert db.session.scalar(devons) == 1
        assert db.session.scalar(db.select(db.func.count(Section.id))) == 14


def test_a_student_with_several_teachers_reads_only_teachers(app, sandbox):
    run = run_sync(app, sandbox, "mateo")
    assert run["status"] == "ok"
    # Issue 16: the teachers of all his classes in one myteachers call, no class read alone.
    assert [r["path"] for r in api_requests(sandbox, "/v3.0/sections/")] == []
    assert len(api_requests(sandbox, f"/v3.0/users/{seed.MATEO_ID}/myteachers")) == 1
    assert api_requests(sandbox, f"/v3.0/users/{seed.MATEO_ID}/mystudents") == []
    with app.app_context():
        mateo = ensure_user("mateo")
        classes = roster.classes_for_student(mateo)
        assert len(classes) == 4
        teachers = {u.clever_id for c in classes for u, _ in roster.section_teachers(c)}
        assert len(teachers) >= 3
        # No classmates: the only student in the database is Mateo himself.
        assert db.session.scalars(db.select(User.clever_id).filter_by(role="student")).all() == [
            seed.MATEO_ID
        ]
        assert all(roster.section_students(c) == [mateo] for c in classes)


def test_utf8_names_are_stored_intact(app, sandbox):
    run_sync(app, sandbox, "ana")
    with app.app_context():
        siobhan = user_row(seed.SIOBHAN_ID)
        assert (siobhan.first_name, siobhan.middle_name, siobhan.last_name) == (
            seed.SIOBHAN_NAME["first"],
            seed.SIOBHAN_NAME["middle"],
            seed.SIOBHAN_NAME["last"],
        )
        assert user_row(seed.DEVON_ID).last_name == "O'Hara"
        assert user_row(seed.PREFIX + "a5d003").last_name == "Adébáyọ̀"
        assert section_row(seed.BIG_SECTION_ID).name == "Grade 4 Math - Núñez - 2"
        assert section_row(STUDY_ID).name == SEED.sections[STUDY_ID]["name"]
        assert section_row(ROBOTICS_ID).name == "Robotics Club (Ñandú team)"


def test_imported_people_get_roster_fields_but_no_login(app, sandbox):
    run_sync(app, sandbox, "ana")
    with app.app_context():
        devon = user_row(seed.DEVON_ID)
        assert devon.role == "teacher" and devon.email == "devon.ohara@maplegrove.example.org"
        assert devon.last_login_at is None
        student = user_row(seed.SIOBHAN_ID)
        assert student.grade == "4" and student.email is None and student.last_login_at is None
        # Sensitive Clever fields are never stored anywhere.
        dump = repr(dump_roster(app))
        record = seed.seeded_user(seed.SIOBHAN_ID)["roles"]["student"]
        assert record["dob"] not in dump and record["state_id"] not in dump


def test_a_student_who_syncs_first_shares_rows_with_the_teacher(app, sandbox):
    run_sync(app, sandbox, "mateo")
    with app.app_context():
        mateo_id = ensure_user("mateo").id
        math_id = section_row(seed.BIG_SECTION_ID).id
        enrollment_id = db.session.scalar(
            db.select(Enrollment.id).filter_by(section_id=math_id, student_id=mateo_id)
        )
        devon_id = user_row(seed.DEVON_ID).id
    run_sync(app, sandbox, "ana")
    with app.app_context():
        assert section_row(seed.BIG_SECTION_ID).id == math_id
        assert user_row(seed.DEVON_ID).id == devon_id
        assert (
            db.session.scalar(
                db.select(Enrollment.id).filter_by(section_id=math_id, student_id=mateo_id)
            )
            == enrollment_id
        )
        for model, column in ((User, User.clever_id), (Section, Section.clever_id)):
            total = db.session.scalar(db.select(db.func.count(model.id)))
            distinct = db.session.scalar(db.select(db.func.count(db.distinct(column))))
            assert total == distinct
        # Mateo logged in himself; the teacher's import must not make it look otherwise.
        assert ensure_user("mateo").last_login_at is not None


# -- how it is applied ----------------------------------------------------------------------------


def test_a_section_that_disappears_and_comes_back_keeps_its_row(app, sandbox):
    run_sync(app, sandbox, "ana")
    with app.app_context():
        homeroom_id = section_row(HOMEROOM_ID).id
    sandbox.mutate("remove_section", section_id=HOMEROOM_ID)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok" and run["archived"] >= 1
    with app.app_context():
        homeroom = section_row(HOMEROOM_ID)
        assert homeroom.id == homeroom_id and homeroom.archived_at is not None
        ana = ensure_user("ana")
        assert homeroom not in roster.classes_for_teacher(ana, include_unselected=True)
        assert not roster.can_view_section(ana, homeroom)
        # Archived, never deleted: the roster is still there for when it returns.
        assert (
            db.session.scalar(
                db.select(db.func.count(Enrollment.id)).filter_by(section_id=homeroom_id)
            )
            == 25
        )
    sandbox.mutate("restore_section", section_id=HOMEROOM_ID)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok" and run["restored"] >= 2  # the class and Ana's link
    with app.app_context():
        homeroom = section_row(HOMEROOM_ID)
        assert homeroom.id == homeroom_id and homeroom.archived_at is None
        assert homeroom in roster.classes_for_teacher(ensure_user("ana"))
        assert len(roster.section_students(homeroom)) == 25


def test_a_removed_student_is_archived_and_restored_on_return(app, sandbox):
    run_sync(app, sandbox, "ana")
    student = seed.student_ids_in(HOMEROOM_ID)[0]
    sandbox.mutate("remove_student", section_id=HOMEROOM_ID, user_id=student)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok" and run["archived"] == 1
    with app.app_context():
        homeroom = section_row(HOMEROOM_ID)
        row = db.session.scalar(
            db.select(Enrollment).filter_by(section_id=homeroom.id, student_id=user_row(student).id)
        )
        row_id = row.id
        assert row.archived_at is not None
        assert len(roster.section_students(homeroom)) == 24
    sandbox.mutate("add_student", section_id=HOMEROOM_ID, user_id=student)
    run = run_sync(app, sandbox, "ana")
    assert run["restored"] == 1 and run["added"] == 0
    with app.app_context():
        row = db.session.get(Enrollment, row_id)
        assert row.archived_at is None


def test_renames_update_and_empty_names_never_overwrite(app, sandbox):
    run_sync(app, sandbox, "ana")
    student = seed.student_ids_in(HOMEROOM_ID)[1]
    sandbox.mutate("rename_user", user_id=student, first="", last="Ó Dónaill-Ng")
    sandbox.mutate("rename_section", section_id=HOMEROOM_ID, name="Homeroom 4B · Room 12")
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok" and run["updated"] == 2
    with app.app_context():
        person = user_row(student)
        assert person.last_name == "Ó Dónaill-Ng"
        assert person.first_name == seed.seeded_user(student)["name"]["first"]
        assert section_row(HOMEROOM_ID).name == "Homeroom 4B · Room 12"


def test_a_resync_with_nothing_changed_writes_only_its_run(app, sandbox):
    run_sync(app, sandbox, "ana")
    with count_writes(app) as writes:
        run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok"
    assert (run["added"], run["updated"], run["archived"], run["restored"]) == (0, 0, 0, 0)
    assert writes == [("INSERT", "sync_runs", 1), ("UPDATE", "sync_runs", 1)]


def test_the_library_teacher_sees_reduced_students_and_no_district(app, sandbox):
    run = run_sync(app, sandbox, "library")
    assert run["status"] == "ok", run  # /schools and /districts answer 404: not a failure
    with app.app_context():
        teacher = ensure_user("library")
        assert teacher.district_id is None and teacher.school_id is None
        classes = roster.classes_for_teacher(teacher)
        assert len(classes) == 3
        amara = user_row(seed.LIBRARY_STUDENT_ID)
        assert (amara.first_name, amara.last_name) == ("Amara", "O")


def test_class_selection_hides_and_stops_fetching_unselected_classes(app, sandbox):
    run_sync(app, sandbox, "ana")
    with app.app_context():
        ana = ensure_user("ana")
        big = section_row(seed.BIG_SECTION_ID)
        keep = [s.id for s in roster.classes_for_teacher(ana) if s.id != big.id]
        assert roster.save_class_selection(ana, keep) == []
        assert big not in roster.classes_for_teacher(ana)
        assert big in roster.classes_for_teacher(ana, include_unselected=True)
        assert roster.can_view_section(ana, big)  # hidden by choice, still her class
        selection = dict((s.id, chosen) for s, chosen in roster.class_selection(ana))
        assert selection[big.id] is False and sum(selection.values()) == 12
    before = dump_roster(app)
    sandbox.clear_log()
    sandbox.mutate("remove_student", section_id=seed.BIG_SECTION_ID, user_id=seed.MATEO_ID)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok" and run["sections_total"] == 12
    assert api_requests(sandbox, f"/v3.0/sections/{seed.BIG_SECTION_ID}") == []
    assert dump_roster(app) == before  # the unselected class's roster was left alone
    with app.app_context():
        ana = ensure_user("ana")
        big = section_row(seed.BIG_SECTION_ID)
        assert roster.save_class_selection(ana, [big.id]) == [big]
        assert roster.classes_for_teacher(ana) == [big]


def test_a_login_sync_is_skipped_while_another_sync_runs(app, sandbox):
    with app.app_context():
        user = ensure_user("ana")
        lock = sync.acquire_lock(user.id)
        try:
            outcome = sync.sync_user(user, access_of(sandbox, "ana"), "login")
        finally:
            sync.release_lock(lock)
        assert outcome.status == "skipped" and outcome.run_id is None
        assert outcome.skipped and not outcome.failed and outcome.error == "sync_in_progress"
        assert db.session.scalar(db.select(db.func.count(SyncRun.id))) == 0
    assert api_requests(sandbox) == []


def test_a_sync_is_skipped_when_redis_cannot_lock(app, sandbox, monkeypatch):
    def redis_down(user_id):
        raise redis.ConnectionError("Redis is down")

    monkeypatch.setattr(sync.runs, "acquire_lock", redis_down)
    with app.app_context():
        user = ensure_user("ana")
        outcome = sync.sync_user(user, access_of(sandbox, "ana"), "login")
        assert outcome == sync.SyncOutcome(sync.SyncStatus.SKIPPED, None, error="no_lock")
        assert outcome.skipped and not outcome.failed
        assert db.session.scalar(db.select(db.func.count(SyncRun.id))) == 0
    assert api_requests(sandbox) == []


def test_run_statuses_are_the_strings_stored_in_the_database():
    assert [str(status) for status in sync.SyncStatus] == [
        "queued", "running", "ok", "failed", "held", "confirmed", "dismissed", "superseded",
        "skipped",
    ]  # fmt: skip
    assert sync.SyncStatus.HELD == "held" and f"{sync.SyncStatus.OK}" == "ok"


# -- the mass-change guard ---------------------------------------------------------------------


def enrollment_rows(app, clever_id: str) -> list[tuple]:
    """Every enrollment row of a class, archived ones included, as stored."""
    with app.app_context():
        query = (
            db.select(Enrollment.id, Enrollment.student_id, Enrollment.archived_at)
            .filter_by(section_id=section_row(clever_id).id)
            .order_by(Enrollment.id)
        )
        return [tuple(row) for row in db.session.execute(query)]


def test_only_the_shrinking_class_is_held_the_rest_applies(app, sandbox):
    run_sync(app, sandbox, "ana")
    study_before = enrollment_rows(app, STUDY_ID)
    remove_four_of_six(sandbox)
    sandbox.mutate("rename_section", section_id=CODING_ID, name="Coding Café (renamed)")
    sandbox.mutate("remove_section", section_id=HOMEROOM_ID)
    leaver = seed.student_ids_in(PE_ID)[0]
    sandbox.mutate("remove_student", section_id=PE_ID, user_id=leaver)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "held"
    # Homeroom archived (class, Ana's link, nothing else), the PE student's enrollment.
    assert run["archived"] == 3 and run["updated"] >= 1
    (change,) = run["held_changes"]["sections"]
    assert change["name"] == SEED.sections[STUDY_ID]["name"]
    assert change["clever_id"] == STUDY_ID and len(change["fingerprint"]) == 64
    assert (change["active_students"], change["would_archive"], change["would_add"]) == (6, 4, 0)
    assert enrollment_rows(app, STUDY_ID) == study_before, "the held class keeps its roster"
    with app.app_context():
        assert section_row(CODING_ID).name == "Coding Café (renamed)"
        assert section_row(HOMEROOM_ID).archived_at is not None
        pe = {s.clever_id for s in roster.section_students(section_row(PE_ID))}
        assert leaver not in pe and len(pe) == 29
        ana = ensure_user("ana")
        held = sync.pending_held_run(ana)
        assert held.id == run["id"]
        assert sync.sync_status(ana)["status"] == "held"
        holds = sync.class_holds(ana)
        assert list(holds) == [section_row(STUDY_ID).id]
        assert holds[section_row(STUDY_ID).id]["state"] == "held"


def test_a_held_class_is_applied_when_confirmed(app, sandbox):
    run_sync(app, sandbox, "ana")
    remove_four_of_six(sandbox)
    run = run_sync(app, sandbox, "ana")
    (change,) = run["held_changes"]["sections"]
    confirmed = run_sync(app, sandbox, "ana", allow_shrink=[change["clever_id"]])
    assert confirmed["status"] == "ok" and confirmed["archived"] == 4
    with app.app_context():
        study = section_row(STUDY_ID)
        assert len(roster.section_students(study)) == 2
        # The answered run is no longer pending.
        assert sync.pending_held_run(ensure_user("ana")) is None
        assert sync.class_holds(ensure_user("ana")) == {}
        assert db.session.get(SyncRun, run["id"]).status == "superseded"


def test_a_kept_shrink_is_not_asked_again_a_further_one_is(app, sandbox):
    run_sync(app, sandbox, "ana")
    study_before = enrollment_rows(app, STUDY_ID)
    removed = remove_four_of_six(sandbox)
    run = run_sync(app, sandbox, "ana")
    with app.app_context():
        held = db.session.get(SyncRun, run["id"])
        sync.dismiss_held(held)
        ana = ensure_user("ana")
        assert sync.pending_held_run(ana) is None
        assert db.session.get(SyncRun, run["id"]).status == "dismissed"
        assert sync.class_holds(ana) == {section_row(STUDY_ID).id: {"state": "kept"}}
    assert enrollment_rows(app, STUDY_ID) == study_before
    # The same shrink on the next syncs: kept without asking, and nothing written but the run.
    assert run_sync(app, sandbox, "ana")["status"] == "ok"
    with count_writes(app) as writes:
        assert run_sync(app, sandbox, "ana")["status"] == "ok"
    assert {table for _, table, _ in writes} == {"sync_runs"}
    assert enrollment_rows(app, STUDY_ID) == study_before
    # A further change (a fifth student leaves) asks again.
    fifth = [s for s in seed.student_ids_in(STUDY_ID) if s not in removed][0]
    sandbox.mutate("remove_student", section_id=STUDY_ID, user_id=fifth)
    again = run_sync(app, sandbox, "ana")
    assert again["status"] == "held"
    (change,) = again["held_changes"]["sections"]
    assert (change["active_students"], change["would_archive"]) == (6, 5)
    assert enrollment_rows(app, STUDY_ID) == study_before
    # Clever gives the students back: the decision is moot, and a later shrink asks again.
    for student in [*removed, fifth]:
        sandbox.mutate("add_student", section_id=STUDY_ID, user_id=student)
    assert run_sync(app, sandbox, "ana")["status"] == "ok"
    with app.app_context():
        assert sync.class_holds(ensure_user("ana")) == {}


def test_small_classes_and_small_shrinks_are_not_held(app, sandbox):
    run_sync(app, sandbox, "ana")
    # Half of six is not "more than half".
    for student in seed.student_ids_in(STUDY_ID)[:3]:
        sandbox.mutate("remove_student", section_id=STUDY_ID, user_id=student)
    run = run_sync(app, sandbox, "ana")
    assert run["status"] == "ok" and run["archived"] == 3
    # A class now of three may lose all but one.
    for student in seed.student_ids_in(STUDY_ID)[3:5]:
        sandbox.mutate("remove_student", section_id=STUDY_ID, user_id=student)
    assert run_sync(app, sandbox, "ana")["status"] == "ok"


# -- read helpers ---------------------------------------------------------------------------------


def test_who_may_view_a_class(app, sandbox):
    run_sync(app, sandbox, "ana")
    run_sync(app, sandbox, "mateo")
    run_sync(app, sandbox, "zoe")
    with app.app_context():
        ana, mateo, zoe = ensure_user("ana"), ensure_user("mateo"), ensure_user("zoe")
        math, robotics = section_row(seed.BIG_SECTION_ID), section_row(ROBOTICS_ID)
        assert roster.can_view_section(ana, math) and roster.can_view_section(ana, robotics)
        assert not roster.can_view_section(zoe, math)
        assert roster.can_view_section(mateo, math)
        assert not roster.can_view_section(mateo, robotics)
        history = sync.sync_history(ana)
        assert [r.status for r in history] == ["ok"] and sync.last_sync(ana).id == history[0].id
        assert sync.last_sync(zoe).sections_total == 0


def test_every_link_and_enrollment_is_unique(app, sandbox):
    for persona in ("mateo", "ana", "devon", "ana", "mateo"):
        assert run_sync(app, sandbox, persona)["status"] == "ok"
    with app.app_context():
        for model, a, b in (
            (SectionTeacher, SectionTeacher.section_id, SectionTeacher.teacher_id),
            (Enrollment, Enrollment.section_id, Enrollment.student_id),
        ):
            pairs = db.session.execute(db.select(a, b)).all()
            assert len(pairs) == len(set(pairs))
        # The schools the classes name (Ana's Cedar, and Birch for the Robotics Club), once.
        names = db.session.scalars(db.select(School.name).order_by(School.name)).all()
        assert names == ["Birch Middle", "Cedar Elementary"]


@pytest.mark.parametrize("persona", ["ana", "mateo"])
def test_a_real_login_syncs(flow, app, persona):
    flow.login_with_button(persona)
    with app.app_context():
        user = user_row(seed.PERSONAS[persona].user_id)
        (run,) = sync.sync_history(user)
        assert (run.trigger, run.status) == ("login", "ok")
        assert run.api_calls > 0 and run.duration_ms is not None
        read = roster.classes_for_teacher if user.is_teacher else roster.classes_for_student
        classes = read(user)
        assert len(classes) == (13 if persona == "ana" else 4)
