"""Returning logins with 100 ms added to every Clever request: round trips, waves, calls, CPU.

For each person below: a first login (makes the account, answers the link offer and
onboarding once, warms the process up) and one returning login, both unmeasured; then
REPEATS returning logins measured from the callback (the code arrives) to the rendered
dashboard, medians printed with their range:

- wall time in round trips of 100 ms (the sandbox waits DELAY before every answer);
- waves: serial Clever round trips from the token exchange on, by dependency from the
  sandbox's request log (tests/waves.py): uneven gaps on a loaded machine neither split nor
  merge waves. A request sent a whole round trip late does count one more (its wave began
  after an answer arrived), never one less, so the fewest of the logins is printed;
- Clever calls from the token exchange on, listed by path shape, wave by wave;
- our time on the critical path: before the first Clever request, between a wave's answer
  and the next wave's first request, and from the last answer to the rendered dashboard
  (the sandbox's log and this process read the same clock);
- our CPU per login: `time.process_time()` of this process over the same window (every
  thread: the request, which the test client runs in ours, and the login's and the sync's
  pools), the sandbox running in another process; again over REPEATS logins without the added
  delay, with the request thread's own share (`time.thread_time()`), and as a multiple of a
  fixed pure-Python workload run right after each login (``reference_cpu_ms``): the host's
  speed swings by half within a day, the multiple much less;
- rows a re-sync with nothing changed writes (asserted: the run record, nothing else).

Before each person's first login this process does what a gunicorn worker does before its
first request (gunicorn.conf.py's post_worker_init: the collation table, the frozen heap).

The targets of issue 16 are printed beside each figure, not asserted: the bench asserts only
what must hold whatever the read plan (the login reached the dashboard, the re-sync writes
only its run record).

    .venv/bin/pytest tests/bench/bench_login_sync.py -s -p no:randomly   # or: make bench
"""

from __future__ import annotations

import os
import pathlib
import runpy
import statistics
import time
from dataclasses import dataclass, field

import pytest
from sync_helpers import count_writes
from waves import calls_by_shape, group_waves

from clever import sync
from clever.sandbox import seed
from models import User, db

GUNICORN_CONF = runpy.run_path(str(pathlib.Path(__file__).parents[2] / "gunicorn.conf.py"))
DELAY = 0.1  # one round trip: the sandbox's added latency on every call
REPEATS = 9  # returning logins measured per person: a median steady to a few hundredths
CPU_TARGET_MS = 35
REFERENCE_ITEMS = 20_000  # the reference workload: 10-20 ms of CPU on these hosts


@dataclass(frozen=True)
class Scenario:
    title: str
    persona: str
    # Maple Grove's district-level connection off: its teachers log in through the Library
    # (same Clever ids, sections and students), as a teacher who installed the app would.
    library_world: bool = False
    rt_target: float | None = None
    waves_target: int | None = None
    calls_target: str | None = None


def distinct_co_teachers(user_id: str) -> int:
    """Teachers who share a class with ``user_id`` (the issue's "one per distinct co-teacher")."""
    return len(
        {t for sid in seed.section_ids_for(user_id) for t in seed.teacher_ids_of(sid)} - {user_id}
    )


ANA_CO_TEACHERS = distinct_co_teachers(seed.ANA_ID)
SCENARIOS = [
    # Ana: 13 classes, co-taught with Devon (3 classes) and with Mensah and Sørensen (1).
    Scenario("Library teacher, 13 classes + co-teachers (ana)", "ana", library_world=True,
             rt_target=4.3, waves_target=4, calls_target=f"<= 5+{ANA_CO_TEACHERS}"),
    # The same Ana with Maple Grove connected (the seed's default): the issue sets only RT.
    Scenario("District teacher, 13 classes + co-teachers (ana)", "ana", rt_target=4.5),
    # Hana Kobayashi teaches her 3 classes alone (Library, Lakeview). The seed's other teacher
    # without co-teachers is the district's noemail_teacher (2 classes).
    Scenario("Library teacher, no co-teachers (library)", "library", waves_target=3),
    Scenario("District student, 4 teachers (mateo)", "mateo"),
]  # fmt: skip


@dataclass
class Figures:
    scenario: Scenario
    round_trips: list[float] = field(default_factory=list)
    waves: list[int] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    cpu_ms_no_delay: list[float] = field(default_factory=list)
    thread_cpu_ms_no_delay: list[float] = field(default_factory=list)
    # Each login's CPU (no delay) over the reference workload's, measured just after it.
    cpu_per_reference: list[float] = field(default_factory=list)
    sample_waves: list[list[dict]] = field(default_factory=list)
    # Each login's own time on the critical path, span by span (see our_time).
    ours_ms: list[list[float]] = field(default_factory=list)
    resync_writes: list[tuple] = field(default_factory=list)


@pytest.fixture(scope="module")
def table():
    rows: list[Figures] = []
    yield rows
    print_table(rows)
    # What this process burns doing nothing (should be ~0): the CPU figures are the logins'.
    cpu_started = time.process_time()
    time.sleep(1)
    idle_ms = (time.process_time() - cpu_started) * 1000
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"\nThis process idle for 1 s: {idle_ms:.1f} ms CPU. Machine load average: {load}.")


def first_login(flow, persona: str) -> None:
    """The account's first login, as a teacher goes through it once (flows.first_login)."""
    page = flow.first_login(persona)
    assert page.status == 200 and page.url.endswith("/dashboard"), (page.url, page.status)


@dataclass(frozen=True)
class Login:
    """One returning login, from the callback to the rendered dashboard."""

    seconds: float
    started: float  # time.time(), comparable with the sandbox's log (same machine)
    ended: float
    cpu: float  # this process, every thread
    thread_cpu: float  # the request's own thread (the test client runs the app in ours)
    log: list[dict]  # the sandbox's log from the token exchange on


def returning_login(flow, sandbox, persona: str) -> Login:
    """One login of someone already signed in to Clever."""
    flow.client.post("/logout")
    flow.sign_in_to_clever(persona)
    sandbox.clear_log()
    to_clever = flow.fetch("/auth/clever/login")
    callback = flow.fetch(to_clever.headers["Location"]).headers["Location"]
    assert callback.startswith(flow.redirect_uri), callback

    wall_started = time.time()
    started, cpu_started, thread_started = (
        time.perf_counter(),
        time.process_time(),
        time.thread_time(),
    )
    page = flow.go(callback)
    seconds = time.perf_counter() - started
    wall_ended = time.time()
    cpu, thread_cpu = time.process_time() - cpu_started, time.thread_time() - thread_started

    assert page.status == 200 and page.url.endswith("/dashboard"), (page.url, page.status)
    log = sandbox.requests_log()
    token_at = min(e["time"] for e in log if e["kind"] == "token")
    return Login(
        seconds,
        wall_started,
        wall_ended,
        cpu,
        thread_cpu,
        [e for e in log if e["time"] >= token_at],
    )


def reference_cpu_ms() -> float:
    """CPU of a fixed workload of the kind a login does (small dicts, strings, calls): the
    yardstick of the host's speed at this moment."""
    started = time.process_time()
    values = {f"user-{n}": {"id": n, "name": str(n)} for n in range(REFERENCE_ITEMS)}
    sum(len(record["name"]) for record in values.values())
    return (time.process_time() - started) * 1000


def our_time(login: Login, waves: list[list[dict]]) -> list[float]:
    """Milliseconds of ours on the critical path: from the callback to the first Clever
    request, from the answer each wave waited for (the last to end before it began) to its
    first request, and from the last answer to the rendered dashboard."""
    spans = [min(e["time"] for e in waves[0]) - login.started]
    for before, wave in zip(waves, waves[1:], strict=False):
        began = min(e["time"] for e in wave)
        spans.append(began - max(e["ended"] for e in before if e["ended"] < began))
    spans.append(login.ended - max(e["ended"] for e in login.log))
    return [span * 1000 for span in spans]


def resync_writes(app, sandbox, persona: str) -> list[tuple]:
    """What a manual re-sync writes right after a login, Clever unchanged."""
    user_id = seed.resolve_user_id(persona)
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(clever_id=user_id))
        world = user.authorized_by
        district = seed.seeded_user(user_id)["district"] if world == "district" else None
        access = sync.access_for(world, sandbox.issue_token(persona), district_id=district)
    with count_writes(app) as writes, app.app_context():
        user = db.session.scalar(db.select(User).filter_by(clever_id=user_id))
        outcome = sync.sync_user(user, access, "manual")
        assert outcome is not None and outcome.status == "ok" and outcome.run_id is not None
    return writes


def scenario_id(scenario: Scenario) -> str:
    return scenario.persona + ("-in-the-library" if scenario.library_world else "")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=scenario_id)
def test_returning_login(scenario: Scenario, table, flow, app, sandbox):
    if scenario.library_world:
        sandbox.disconnect_district(seed.DISTRICT_ID)
    GUNICORN_CONF["post_worker_init"](None)  # what a worker does before its first request
    first_login(flow, scenario.persona)  # makes the account; warms the process
    returning_login(flow, sandbox, scenario.persona)  # the first returning login, unmeasured

    figures = Figures(scenario)
    sandbox.add_fault(path="*", delay=DELAY)
    for _ in range(REPEATS):
        login = returning_login(flow, sandbox, scenario.persona)
        waves = group_waves(login.log)
        figures.round_trips.append(login.seconds / DELAY)
        figures.cpu_ms.append(login.cpu * 1000)
        figures.waves.append(len(waves))
        figures.calls.append(len(login.log))
        figures.ours_ms.append(our_time(login, waves))
        if not figures.sample_waves or len(waves) < len(figures.sample_waves):
            figures.sample_waves = waves  # the least disturbed login, listed wave by wave
    sandbox.clear_faults()
    for _ in range(REPEATS):
        login = returning_login(flow, sandbox, scenario.persona)
        figures.cpu_ms_no_delay.append(login.cpu * 1000)
        figures.thread_cpu_ms_no_delay.append(login.thread_cpu * 1000)
        figures.cpu_per_reference.append(login.cpu * 1000 / reference_cpu_ms())

    figures.resync_writes = resync_writes(app, sandbox, scenario.persona)
    table.append(figures)
    assert figures.resync_writes == [("INSERT", "sync_runs", 1), ("UPDATE", "sync_runs", 1)]


# -- the report -------------------------------------------------------------------------------


def spread(values: list[float], fmt: str, headline=statistics.median) -> str:
    """The headline figure (the median unless told), and the range when the runs differ."""
    figure = format(headline(values), fmt)
    low, high = format(min(values), fmt), format(max(values), fmt)
    return figure if low == high else f"{figure} ({low}-{high})"


def print_table(rows: list[Figures]) -> None:
    ms = f"{DELAY * 1000:.0f} ms"
    print(
        f"\n\nReturning logins, +{ms} on every Clever request; median of {REPEATS} logins "
        f"(range when they differ).\nRT: wall time from the callback to the rendered dashboard "
        f"in round trips of {ms}, to two decimals (a target of 4.3 is met by 4.30, not by "
        "4.34). Waves (by dependency) and calls: from the token exchange on.\n"
        "Waves: the fewest of the logins. Every login counts at least its chain of dependent "
        "requests; a request\nour side sends a whole round trip late (a loaded machine) counts "
        "one more, never one less."
    )
    header = f"{'login':<50} {'RT':>19} {'target':>6}  {'waves':>7} {'target':>6}  "
    header += f"{'calls':>7} {'target':>8}"
    print(header + "\n" + "-" * len(header))
    for row in rows:
        s = row.scenario
        print(
            f"{s.title:<50} {spread(row.round_trips, '.2f'):>19} "
            f"{'<=' + str(s.rt_target) if s.rt_target else '':>6}  "
            f"{spread(row.waves, 'd', min):>7} {s.waves_target or '':>6}  "
            f"{spread(row.calls, 'd'):>7} {s.calls_target or '':>8}"
        )
    print(
        f"\nOur CPU per login (ms; target <= {CPU_TARGET_MS}): this process over the same window, "
        f"every thread, at +{ms} and without added delay; and the request's own thread. "
        "x ref: CPU without delay\nin multiples of the reference workload's, run after each "
        "login (the host's speed of the moment)."
    )
    header = f"{'login':<50} {'at +' + ms:>16} {'no delay':>16} {'request thread':>16}"
    header += f" {'x ref':>14}"
    print(header + "\n" + "-" * len(header))
    for row in rows:
        print(
            f"{row.scenario.title:<50} {spread(row.cpu_ms, '.0f'):>16} "
            f"{spread(row.cpu_ms_no_delay, '.0f'):>16} "
            f"{spread(row.thread_cpu_ms_no_delay, '.0f'):>16} "
            f"{spread(row.cpu_per_reference, '.1f'):>14}"
        )
    references = [reference_cpu_ms() for _ in range(REPEATS)]
    print(f"Reference workload now: {spread(references, '.1f')} ms of CPU.")
    print(
        f"\nOur time on the critical path at +{ms} (ms, median of the logins with the fewest "
        "waves): callback to the first Clever request | between each wave's answer and the next "
        "wave | last answer to the rendered dashboard."
    )
    header = f"{'login':<50} {'head':>6} {'between waves':>20} {'tail':>6} {'sum':>6}"
    print(header + "\n" + "-" * len(header))
    for row in rows:
        fewest = min(row.waves)
        spans = [o for o, w in zip(row.ours_ms, row.waves, strict=True) if w == fewest]
        medians = [statistics.median(column) for column in zip(*spans, strict=True)]
        between = " ".join(f"{m:.0f}" for m in medians[1:-1])
        print(
            f"{row.scenario.title:<50} {medians[0]:>6.0f} {between:>20} {medians[-1]:>6.0f} "
            f"{sum(medians):>6.0f}"
        )
    for row in rows:
        print(f"\n{row.scenario.title}: the measured login with the fewest waves")
        for number, wave in enumerate(row.sample_waves, 1):
            shapes = ", ".join(f"{n} x {shape}" for shape, n in calls_by_shape(wave).items())
            print(f"  {number}. {len(wave):2d} call(s): {shapes}")
        print(f"  re-sync with nothing changed wrote: {row.resync_writes}")
