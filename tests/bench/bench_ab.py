"""A/B: this checkout's dashboard against another commit's, on one machine at the same time:

    AB_BASE_REV=HEAD~1 .venv/bin/pytest tests/bench/bench_ab.py -s -p no:randomly

Two gunicorns (A: this working tree, B: ``AB_BASE_REV`` checked out in a temporary worktree,
default HEAD) on one database and one Redis, measured in alternating one-second slices with
``/healthz`` of A beside them: a noisy machine slows both alike, so A/B shows what a change
is worth when absolute rates move by half between runs.
"""

from __future__ import annotations

import os
import statistics
import subprocess

import first_morning
from bench_dashboard import requests_per_second, signed_in
from first_morning import app_environment, gunicorn

from clever.sandbox import seed

ROUNDS = int(os.environ.get("AB_ROUNDS", "12"))
SLICE_SECONDS = 1.0


def test_dashboard_a_against_b(app, app_config, sandbox, tmp_path):
    here = first_morning.ROOT
    base = tmp_path / "base"
    rev = os.environ.get("AB_BASE_REV", "HEAD")
    subprocess.run(["git", "worktree", "add", "--detach", str(base), rev], cwd=here, check=True)
    env = app_environment(app_config)
    try:
        with gunicorn(env, log=tmp_path / "a.log") as a:
            first_morning.ROOT = base  # gunicorn runs from (and imports) the base checkout
            try:
                with gunicorn(env, log=tmp_path / "b.log") as b:
                    first_morning.ROOT = here
                    browser = signed_in(a, sandbox.url, seed.PERSONAS["ana"].user_id)
                    urls = {"A": a + "/dashboard", "B": b + "/dashboard", "hz": a + "/healthz"}
                    for url in urls.values():  # warm up every worker thread
                        requests_per_second(url, browser.cookies, SLICE_SECONDS / 2)
                    rates: dict[str, list[float]] = {key: [] for key in urls}
                    for round_ in range(ROUNDS):
                        for key in urls if round_ % 2 == 0 else reversed(urls):
                            rates[key].append(
                                requests_per_second(urls[key], browser.cookies, SLICE_SECONDS)
                            )
            finally:
                first_morning.ROOT = here
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=here, check=True)
    mean = {key: statistics.mean(values) for key, values in rates.items()}
    per_round = [x / y for x, y in zip(rates["A"], rates["B"], strict=True)]
    print(
        f"\nA (working tree) {mean['A']:.0f}, B ({rev}) {mean['B']:.0f}, /healthz "
        f"{mean['hz']:.0f} req/s; A/B {mean['A'] / mean['B']:.3f} overall, "
        f"{statistics.median(per_round):.3f} median of rounds; A/healthz "
        f"{mean['A'] / mean['hz']:.3f}, B/healthz {mean['B'] / mean['hz']:.3f}"
    )
