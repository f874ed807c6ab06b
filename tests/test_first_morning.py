"""The first morning of school: first logins whose rosters overlap, all at once, then all again,
against the app under gunicorn (two worker processes, threads) on the suite's database:
PostgreSQL in CI's second pass, SQLite in the first. Every sync must succeed, and no page may be
a 5xx. A smaller crowd than the benchmark's (tests/bench/bench_first_morning.py): 8 of
Riverbend's teachers, who co-teach in pairs, and 8 of their students."""

from __future__ import annotations

from collections import Counter

from first_morning import (
    app_environment,
    crowd_logs_in,
    gunicorn,
    open_riverbend,
    overlapping_crowd,
)

from clever.sandbox import seed
from models import SyncRun, User, db

TEACHERS, STUDENTS = 8, 8


def test_overlapping_first_logins_at_once_then_again_all_sync(app, app_config, sandbox, tmp_path):
    open_riverbend(sandbox)
    crowd = overlapping_crowd(TEACHERS, STUDENTS)
    log = tmp_path / "gunicorn.log"
    with gunicorn(app_environment(app_config), "-w", "2", "--threads", "4", log=log) as origin:
        first = crowd_logs_in(origin, sandbox.url, crowd)
        again = crowd_logs_in(origin, sandbox.url, crowd)
    print("syncs applied again:", log.read_text().count("applying again"))

    for logins in (first, again):
        assert [login.statuses for login in logins if login.server_errors] == []
        assert all(login.statuses[-1] == 200 for login in logins), [
            (login.statuses, login.final_url) for login in logins if login.statuses[-1] != 200
        ]
        stale = [login for login in logins if "couldn't refresh your classes" in login.text]
        assert [login.clever_id for login in stale] == []
    with app.app_context():
        runs = db.session.execute(
            db.select(User.clever_id, SyncRun.status, SyncRun.error, SyncRun.sections_total).join(
                SyncRun, SyncRun.user_id == User.id
            )
        ).all()
        # One row per person however many syncs met them (no duplicates, nobody lost).
        clever_ids = db.session.scalars(db.select(User.clever_id)).all()
    statuses = Counter(run.status for run in runs)
    assert statuses == {"ok": 2 * len(crowd)}, (statuses, Counter(run.error for run in runs))
    assert Counter(run.clever_id for run in runs) == {uid: 2 for uid in crowd}
    # Each sync read the whole roster: every class the seed gives that person, both times.
    assert {(run.clever_id, run.sections_total) for run in runs} == {
        (uid, len(seed.section_ids_for(uid))) for uid in crowd
    }
    assert len(clever_ids) == len(set(clever_ids)) and set(crowd) <= set(clever_ids)
