"""Helpers shared by the sync tests and the benchmark: seeded ids, running a sync against the
sandbox, dumping the roster, counting writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from clever import sync
from clever.sandbox import seed
from models import (
    Section,
    SyncRun,
    User,
    db,
    utcnow,
)

SEED = seed.build()


def seed_section(prefix: str) -> str:
    """The Clever id of the seeded section whose name starts with ``prefix``."""
    (found,) = [sid for sid, s in SEED.sections.items() if s["name"].startswith(prefix)]
    return found


HOMEROOM_ID = seed_section("Homeroom 4B")  # Ana only, 25 students
ROBOTICS_ID = seed_section("Robotics Club")  # Devon primary, Ana co-teacher
STUDY_ID = seed_section("Independent Study")  # Ana only, 6 students


def ensure_user(persona: str) -> User:
    """The app's row for a persona, as a login would have made it (call in an app context)."""
    p = seed.PERSONAS[persona]
    user = db.session.scalar(db.select(User).filter_by(clever_id=p.user_id))
    if user is None:
        first, _, last = p.name.partition(" ")
        user = User(
            clever_id=p.user_id,
            first_name=first,
            last_name=last,
            role="student" if p.role == "student" else "teacher",
            clever_roles=",".join(p.roles),
            authorized_by=p.authorized_by,
            last_login_at=utcnow(),
        )
        db.session.add(user)
        db.session.commit()
    return user


def access_of(sandbox, persona: str) -> sync.RosterAccess:
    """The tokens a login of ``persona`` would sync with now (call in an app context): its own
    token, and for a district login its district (whose district-app token the sync lists)."""
    user_id = seed.resolve_user_id(persona)
    authorized_by = sandbox.state.authorized_by(user_id)
    district = seed.seeded_user(user_id)["district"] if authorized_by == "district" else None
    access = sync.access_for(authorized_by, sandbox.issue_token(persona), district_id=district)
    assert access is not None
    return access


def run_sync(app, sandbox, persona: str, **kwargs: Any) -> dict[str, Any]:
    """Sync a persona directly through the service, as the login does; the recorded run as a
    dict (checked against the outcome sync_user returned)."""
    with app.app_context():
        user = ensure_user(persona)
        if user.authorized_by != sandbox.state.authorized_by(user.clever_id):
            user.authorized_by = sandbox.state.authorized_by(user.clever_id)
            db.session.commit()
        outcome = sync.sync_user(user, access_of(sandbox, persona), trigger="login", **kwargs)
        assert outcome is not None and outcome.run_id is not None, outcome
        run = db.session.get(SyncRun, outcome.run_id)
        assert_outcome_of(outcome, run)
        result = sync.run_as_dict(run)
        result["held_changes"] = json.loads(run.held_changes) if run.held_changes else None
        return result


def assert_outcome_of(outcome: sync.SyncOutcome, run: SyncRun) -> None:
    """The outcome sync_user returned says what its recorded run says."""
    assert (outcome.status, outcome.run_id, outcome.error) == (run.status, run.id, run.error)
    assert (outcome.failed, outcome.held) == (run.status == "failed", run.status == "held")
    assert not outcome.skipped
    counts = ("sections_total", "added", "updated", "archived", "restored", "api_calls")
    assert [getattr(outcome, name) for name in (*counts, "duration_ms")] == [
        getattr(run, name) for name in (*counts, "duration_ms")
    ]


def user_id_of(app, persona: str) -> int:
    with app.app_context():
        return ensure_user(persona).id


def dump_roster(app) -> dict[str, list[tuple]]:
    """Every row of every table but sync_runs: "the database is unchanged" means equal dumps."""
    with app.app_context():
        out = {}
        for table in db.metadata.sorted_tables:
            if table.name == "sync_runs":
                continue
            query = table.select().order_by(*table.primary_key.columns)
            out[table.name] = [tuple(row) for row in db.session.execute(query)]
        return out


@contextmanager
def engine_listener(app, name: str, listener):
    """``listener`` on the app's engine's ``name`` event (e.g. "before_cursor_execute") inside
    the block."""
    with app.app_context():
        engine = db.engine
    event.listen(engine, name, listener)
    try:
        yield
    finally:
        event.remove(engine, name, listener)


@contextmanager
def counted_statements(app) -> Iterator[list[str]]:
    """Every SQL statement the engine sends inside the block."""
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with engine_listener(app, "before_cursor_execute", listener):
        yield statements


@contextmanager
def count_writes(app):
    """INSERT/UPDATE/DELETE statements (and rows) the database sees inside the block."""
    writes: list[tuple[str, str, int]] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        verb = words[0].upper()
        if verb in {"INSERT", "UPDATE", "DELETE"}:
            table = words[1] if verb == "UPDATE" else words[2]
            writes.append((verb, table, cursor.rowcount))

    with engine_listener(app, "after_cursor_execute", listener):
        yield writes


def section_row(clever_id: str) -> Section:
    return db.session.scalar(db.select(Section).filter_by(clever_id=clever_id))


def user_row(clever_id: str) -> User:
    return db.session.scalar(db.select(User).filter_by(clever_id=clever_id))


def api_requests(sandbox, prefix: str = "/v3.0/") -> list[dict]:
    return sandbox.requests_log(kind="api", path_prefix=prefix)


# -- what is read ---------------------------------------------------------------------------------


def remove_four_of_six(sandbox) -> list[str]:
    removed = seed.student_ids_in(STUDY_ID)[:4]
    for student in removed:
        sandbox.mutate("remove_student", section_id=STUDY_ID, user_id=student)
    return removed
