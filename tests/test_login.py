"""clever/login.py: the login service (its flows over real HTTP are in test_auth.py and
test_auth_failures.py, the no-usable-role refusal included)."""

from __future__ import annotations

import ast
import pathlib
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sync_helpers import counted_statements, seed_section

from clever import accounts, login, roster
from clever.sandbox import seed
from models import User, db

CLEVER = pathlib.Path(__file__).parent.parent / "clever"


def test_the_prefetch_pool_belongs_to_each_app(app, app_config):
    from app import create_app

    other = create_app(app_config)
    pool = app.extensions[login.EXTENSION]
    assert isinstance(pool, ThreadPoolExecutor)
    assert pool is not other.extensions[login.EXTENSION]
    assert pool._max_workers == app.config["LOGIN_PREFETCH_WORKERS"]


def test_no_module_holds_a_thread_pool_or_other_process_state():
    """Pools are created per app or per service call, never at import time."""
    offenders = []
    for path in CLEVER.rglob("*.py"):
        if "sandbox" in path.parts or "migrations" in path.parts:
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
                name = ast.unparse(node.value.func)
                if "Executor" in name or "Thread" in name or "Lock" in name:
                    offenders.append(f"{path.name}: {ast.unparse(node)[:60]}")
    assert offenders == []


def test_the_sections_leave_before_the_account_is_read_and_its_choices_still_apply(
    app, flow, sandbox, monkeypatch
):
    """The next wave (co-teachers) waits on the sections' answer only: the login sends them
    before it reads the account. The account's role and class choices reach the reader after,
    here even after the sections answered, and still decide what it reads."""
    art = seed_section("Art & Música")  # Ana, Mensah and Sørensen co-teach only there
    sections = f"/v3.0/users/{seed.ANA_ID}/sections"
    page = flow.first_login("ana")
    assert page.url.endswith("/dashboard"), page.url
    with app.app_context():
        ana = db.session.scalar(db.select(User).filter_by(clever_id=seed.ANA_ID))
        keep = [s.id for s in roster.classes_for_teacher(ana) if s.clever_id != art]
        roster.save_class_selection(ana, keep)
    flow.client.post("/logout")

    looked_up = accounts.find_by_clever_id
    answered_before_lookup = []

    def after_the_sections_answered(clever_id):
        deadline = time.monotonic() + 5
        while not sandbox.requests_log(kind="api", path_prefix=sections):
            assert time.monotonic() < deadline, "the sections were not sent before the lookup"
            time.sleep(0.01)
        answered_before_lookup.append(True)
        return looked_up(clever_id)

    monkeypatch.setattr(accounts, "find_by_clever_id", after_the_sections_answered)
    sandbox.clear_log()
    page = flow.login_with_button("ana")

    assert page.url.endswith("/dashboard"), page.url
    assert answered_before_lookup  # every lookup of the account came after that answer
    log = sandbox.requests_log(kind="api")
    answer = next(e for e in log if e["path"] == sections)
    bulk = next(e for e in log if e["path"] == f"/v3.0/users/{seed.ANA_ID}/mystudents")
    assert bulk["time"] >= answer["ended"]  # the role came from the account, after
    co_teacher_reads = [e["path"] for e in log if e["path"].startswith("/v3.0/sections/")]
    assert co_teacher_reads and not any(art in path for path in co_teacher_reads)  # unselected


def test_a_returning_login_reads_each_row_it_needs_once(app, flow, sandbox):
    """The callback of a returning teacher's login: one read of the account (the reader's start
    looks it up, the profile update reuses it), none again after a commit (the session keeps
    what it loaded), one of the class preferences in the apply (the kept shrinks and the rows
    new classes need, together)."""
    assert flow.first_login("ana").url.endswith("/dashboard")
    flow.client.post("/logout")
    flow.sign_in_to_clever("ana")
    to_clever = flow.fetch("/auth/clever/login")
    callback = flow.fetch(to_clever.headers["Location"]).headers["Location"]

    with counted_statements(app) as statements:
        page = flow.fetch(callback)
    assert page.status == 302 and page.headers["Location"].endswith("/dashboard"), page.headers

    reads = Counter(
        re.search(r"\bFROM (\w+)", statement).group(1)
        for statement in statements
        if statement.lstrip().upper().startswith("SELECT")
    )
    assert reads == {
        "users": 2,  # the account; the people of the roster
        "sections": 1,  # the classes the teacher chose not to sync
        "clever_tokens": 1,  # the token at rest, replaced
        "sync_runs": 2,  # runs a dead process left running; held runs made moot
        "section_teachers": 2,  # the teacher's classes; every teaching link of them
        "enrollments": 1,
        "teacher_section_preferences": 1,
        # Ana logs in through Maple Grove: its records, read today, are not read again ...
        "districts": 1,  # ... which the district's says
        # ... nor its schools' (1); the classes' schools (1); the account's own, which the
        # onboarding check names (1: the apply's rows of it are gone with the apply)
        "schools": 3,
    }
