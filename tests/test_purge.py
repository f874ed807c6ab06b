"""clever/purge.py and the operator commands (clever/commands.py): deleting student data.

Rosters come from real syncs against the sandbox; a second district is planted beside them so
"other districts are untouched" has something to check.
"""

from __future__ import annotations

from datetime import timedelta

from sync_helpers import ROBOTICS_ID, dump_roster, run_sync, section_row, user_row

from clever.sandbox import seed
from models import (
    District,
    Enrollment,
    School,
    Section,
    SectionTeacher,
    SyncRun,
    User,
    db,
    utcnow,
)

OTHER = "other-district-0001"


def plant_other_district(app) -> None:
    with app.app_context():
        district = District(clever_id=OTHER, name="Elsewhere Unified")
        school = School(clever_id="other-school-1", name="Elsewhere High", district=district)
        section = Section(clever_id="other-section-1", name="Elsewhere Algebra", school=school)
        teacher = User(clever_id="other-teacher-1", first_name="Olga", last_name="Other",
                       role="teacher", district=district, last_login_at=utcnow())  # fmt: skip
        student = User(clever_id="other-student-1", first_name="Otto", last_name="Other",
                       role="student")  # fmt: skip
        db.session.add_all([district, school, section, teacher, student])
        db.session.flush()
        db.session.add(SectionTeacher(section_id=section.id, teacher_id=teacher.id))
        db.session.add(Enrollment(section_id=section.id, student_id=student.id))
        db.session.commit()


def rows_of(dump: dict, needle: str) -> list:
    return [row for rows in dump.values() for row in rows if needle in repr(row)]


def cli(app, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_dry_run_changes_nothing_and_prints_the_counts(app, sandbox):
    run_sync(app, sandbox, "ana")
    before = dump_roster(app)
    result = cli(app, "purge-district", seed.DISTRICT_ID, "--dry-run")
    assert result.exit_code == 0
    assert "dry run" in result.output and "users:" in result.output
    assert dump_roster(app) == before
    assert "Ana" not in result.output and "Núñez" not in result.output  # counts, never names


def test_purging_a_district_removes_its_people_and_leaves_the_others(app, sandbox, caplog):
    run_sync(app, sandbox, "ana")
    run_sync(app, sandbox, "library")
    plant_other_district(app)
    with app.app_context():
        ana = user_row(seed.PERSONAS["ana"].user_id)
        library = user_row(seed.PERSONAS["library"].user_id)
        ana_classes = set(db.session.scalars(
            db.select(Section.clever_id).join(SectionTeacher).where(
                SectionTeacher.teacher_id == ana.id)))  # fmt: skip
        library_rows = db.session.scalar(
            db.select(db.func.count()).select_from(SectionTeacher).where(
                SectionTeacher.teacher_id == library.id))  # fmt: skip
    before = dump_roster(app)
    other_before = rows_of(before, "other-") + rows_of(before, "Elsewhere")

    result = cli(app, "purge-district", seed.DISTRICT_ID, "--yes")
    assert result.exit_code == 0, result.output

    after = dump_roster(app)
    assert rows_of(after, seed.DISTRICT_ID) == []
    assert rows_of(after, seed.PERSONAS["ana"].user_id) == []
    for clever_id in ana_classes:
        assert rows_of(after, clever_id) == [], clever_id
    assert rows_of(after, "Núñez") == [] and rows_of(after, "Maple Grove") == []
    assert rows_of(after, "other-") + rows_of(after, "Elsewhere") == other_before
    with app.app_context():
        library = user_row(seed.PERSONAS["library"].user_id)
        assert library is not None
        kept = db.session.scalar(
            db.select(db.func.count()).select_from(SectionTeacher).where(
                SectionTeacher.teacher_id == library.id))  # fmt: skip
        assert kept == library_rows
        assert db.session.scalar(db.select(db.func.count()).select_from(SyncRun)) == 1
    logged = [r.getMessage() for r in caplog.records if r.name == "clever.purge"]
    assert logged and "users" in logged[0] and "Núñez" not in logged[0]


def test_a_purge_needs_confirmation_and_an_unknown_id_is_an_error(app, sandbox):
    run_sync(app, sandbox, "ana")
    before = dump_roster(app)
    refused = app.test_cli_runner().invoke(args=["purge-district", seed.DISTRICT_ID], input="n\n")
    assert refused.exit_code != 0 and dump_roster(app) == before
    unknown = app.test_cli_runner().invoke(args=["purge-teacher", "nobody", "--yes"])
    assert unknown.exit_code != 0
    assert "no teacher with that Clever id" in unknown.output


def test_purging_a_teacher_keeps_classes_another_active_teacher_shares(app, sandbox):
    run_sync(app, sandbox, "ana")  # Ana has logged in and co-teaches Robotics with Devon
    run_sync(app, sandbox, "devon")
    with app.app_context():
        robotics_students = {
            e.student_id
            for e in db.session.scalars(
                db.select(Enrollment).filter_by(section_id=section_row(ROBOTICS_ID).id)
            )
        }
    result = cli(app, "purge-teacher", seed.PERSONAS["devon"].user_id, "--yes")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert user_row(seed.PERSONAS["devon"].user_id) is None
        robotics = section_row(ROBOTICS_ID)
        assert robotics is not None
        still = {
            e.student_id
            for e in db.session.scalars(db.select(Enrollment).filter_by(section_id=robotics.id))
        }
        assert still == robotics_students
        # Every student left has a class; nobody is enrolled in a deleted class.
        orphans = db.session.scalars(
            db.select(User).where(
                User.role == "student",
                ~User.id.in_(db.select(Enrollment.student_id)),
            )
        ).all()
        assert orphans == []


def test_purging_a_library_teacher_ends_their_sessions(app, sandbox, flow, redis_client):
    flow.portal_launch("library")
    with app.app_context():
        index = f"user-sessions:{user_row(seed.PERSONAS['library'].user_id).id}"
    sessions = [f"session:{sid.decode()}" for sid in redis_client.smembers(index)]
    assert sessions and all(redis_client.exists(key) for key in sessions)
    result = cli(app, "purge-teacher", seed.PERSONAS["library"].user_id, "--yes")
    assert result.exit_code == 0, result.output
    assert not any(redis_client.exists(key) for key in sessions)
    assert flow.client.get("/dashboard").headers["Location"].endswith("/login")
    with app.app_context():
        assert user_row(seed.PERSONAS["library"].user_id) is None
        assert db.session.scalar(db.select(db.func.count()).select_from(Enrollment)) == 0


def test_prune_deletes_only_old_archives(app, sandbox):
    run_sync(app, sandbox, "ana")
    old = utcnow() - timedelta(days=400)
    with app.app_context():
        robotics = section_row(ROBOTICS_ID)
        robotics.archived_at = old
        robotics_id = robotics.id
        enrollments = db.session.scalars(
            db.select(Enrollment).where(Enrollment.section_id != robotics_id).limit(3)
        ).all()
        for row in enrollments[:2]:
            row.archived_at = old
        enrollments[2].archived_at = utcnow() - timedelta(days=10)  # recent: kept
        total = db.session.scalar(db.select(db.func.count()).select_from(Enrollment))
        robotics_rows = db.session.scalar(
            db.select(db.func.count()).select_from(Enrollment).filter_by(section_id=robotics_id)
        )
        db.session.commit()
        pruned_ids = {row.id for row in enrollments[:2]}
        kept_id = enrollments[2].id
    before = dump_roster(app)
    dry = cli(app, "prune", "--archived-days", "365", "--dry-run")
    assert dry.exit_code == 0 and dump_roster(app) == before
    result = cli(app, "prune", "--archived-days", "365")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.get(Section, robotics_id) is None
        left = db.session.scalar(db.select(db.func.count()).select_from(Enrollment))
        assert left == total - len(pruned_ids) - robotics_rows
        assert db.session.get(Enrollment, kept_id) is not None
    assert f"enrollments: {len(pruned_ids) + robotics_rows}" in result.output
    assert f"enrollments: {len(pruned_ids) + robotics_rows}" in dry.output
