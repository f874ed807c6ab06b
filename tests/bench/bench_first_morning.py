"""The first morning of school: 50 first logins whose rosters overlap, all at once, then all
again, against the app under the repository's gunicorn.conf.py, with 100 ms added to every
Clever call. Run on PostgreSQL for the figures that matter:

    DATABASE_URL=postgresql://... REDIS_URL=redis://... .venv/bin/pytest tests/bench -s -k morning

Prints, per run and round, the failed syncs, the 5xx answers and the p50/p95 login wall time.
The crowd is the seed's first-morning cohort: Riverbend's 30 teachers (every class co-taught,
students shared between classes) and the 20 students with the most classes
(tests/test_first_morning.py runs 8 teachers and 8 students in every CI pass).
"""

from __future__ import annotations

import statistics
from collections import Counter

import pytest
from first_morning import (
    app_environment,
    crowd_logs_in,
    gunicorn,
    open_riverbend,
    overlapping_crowd,
)

from models import SyncRun, db

DELAY = 0.1
RUNS = 5
TEACHERS, STUDENTS = 30, 20


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@pytest.mark.parametrize("run", range(1, RUNS + 1))
def test_first_morning(run, app, app_config, sandbox, tmp_path):
    open_riverbend(sandbox)
    crowd = overlapping_crowd(TEACHERS, STUDENTS)
    sandbox.add_fault(path="*", delay=DELAY)
    failed_total = errors_total = calls_total = 0
    with gunicorn(app_environment(app_config), log=tmp_path / "gunicorn.log") as origin:
        for round_ in (1, 2):
            logins = crowd_logs_in(origin, sandbox.url, crowd)
            with app.app_context():
                runs = db.session.execute(
                    db.select(SyncRun.status, SyncRun.error, SyncRun.api_calls)
                ).all()
            statuses = Counter(status for status, _, _ in runs)
            # Clever calls of this round's syncs, all made with Riverbend's one district-app
            # token (Clever allows 1200 a minute per token).
            calls = sum(run.api_calls for run in runs) - calls_total
            calls_total += calls
            failed = statuses.get("failed", 0) - failed_total
            errors = sum(login.server_errors for login in logins)
            failed_total += failed
            errors_total += errors
            times = [login.seconds for login in logins]
            print(
                f"\nrun {run} round {round_}: {len(crowd)} logins, {failed} failed syncs, "
                f"{errors} 5xx, p50 {statistics.median(times):.2f} s, "
                f"p95 {percentile(times, 0.95):.2f} s, {calls} Clever calls by the syncs"
            )
            if failed:
                print("  why syncs failed:", Counter(run.error for run in runs if run.error))
    retried = (tmp_path / "gunicorn.log").read_text().count("applying again")
    print(
        f"run {run}: {failed_total} failed syncs, {errors_total} 5xx; "
        f"applies retried after a database abort: {retried}"
    )
    assert (failed_total, errors_total) == (0, 0)
