"""The first morning of school: first logins whose rosters overlap, all at once, against the app
under gunicorn (two worker processes, threads) on the suite's database: PostgreSQL in CI's
second pass, SQLite in the first. Every sync must succeed, and no page may be a 5xx."""

from __future__ import annotations

from collections import Counter

from first_morning import app_environment, crowd_logs_in, gunicorn, overlapping_crowd

from models import SyncRun, User, db

TEACHERS, STUDENTS = 6, 24  # 30 people: every teacher the seed gives classes, and students


def test_thirty_overlapping_first_logins_at_once_all_sync(app, app_config, sandbox, tmp_path):
    crowd = overlapping_crowd(TEACHERS, STUDENTS)
    log = tmp_path / "gunicorn.log"
    with gunicorn(app_environment(app_config), "-w", "2", "--threads", "4", log=log) as origin:
        logins = crowd_logs_in(origin, sandbox.url, crowd)
    print("syncs applied again:", log.read_text().count("applying again"))

    assert [login.statuses for login in logins if login.server_errors] == []
    assert all(login.statuses[-1] == 200 for login in logins), [
        (login.statuses, login.final_url) for login in logins if login.statuses[-1] != 200
    ]
    stale = [login.clever_id for login in logins if "couldn't refresh your classes" in login.text]
    with app.app_context():
        runs = db.session.execute(
            db.select(User.clever_id, SyncRun.status, SyncRun.error).join(
                SyncRun, SyncRun.user_id == User.id
            )
        ).all()
        # One row per person however many syncs met them (no duplicates, nobody lost).
        clever_ids = db.session.scalars(db.select(User.clever_id)).all()
    statuses = Counter(status for _, status, _ in runs)
    assert statuses == {"ok": len(crowd)}, (statuses, Counter(error for *_, error in runs))
    assert {clever_id for clever_id, _, _ in runs} == set(crowd)
    assert stale == []
    assert len(clever_ids) == len(set(clever_ids)) and set(crowd) <= set(clever_ids)
