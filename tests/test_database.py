"""clever/database.py: how a request's transaction ends (COMMIT when it only read), and what
that keeps on PostgreSQL (psycopg's prepared statements, which every ROLLBACK discards)."""

from __future__ import annotations

import contextlib

from sqlalchemy import event, text
from test_dashboard import make_classes, signed_in_client

from clever.database import end_read_only_transaction
from models import User, db


@contextlib.contextmanager
def transaction_ends(app):
    """How each transaction on the app's engine ends, in order: "commit" or "rollback"."""
    ends: list[str] = []
    with app.app_context():
        engine = db.engine
    listeners = {
        name: lambda _conn, name=name: ends.append(name) for name in ("commit", "rollback")
    }
    for name, listener in listeners.items():
        event.listen(engine, name, listener)
    try:
        yield ends
    finally:
        for name, listener in listeners.items():
            event.remove(engine, name, listener)


def test_a_page_that_only_reads_ends_its_transaction_with_a_commit(app):
    teacher_id, _, _ = make_classes(app, 3)
    client = signed_in_client(app, teacher_id)
    client.get("/dashboard")  # warm: the first request of a process loads templates
    with transaction_ends(app) as ends:
        assert client.get("/dashboard").status_code == 200
    assert ends == ["commit"]


def test_a_write_left_uncommitted_is_rolled_back(app):
    with app.test_request_context():
        db.session.add(User(clever_id="uncommitted", first_name="Nobody", role="teacher"))
        db.session.flush()  # written, nothing pending in the session any more
        end_read_only_transaction(None)
        assert db.session().in_transaction()  # not committed: the teardown rolls it back
    with app.app_context():
        assert db.session.scalar(db.select(User).filter_by(clever_id="uncommitted")) is None


def test_changes_not_flushed_are_not_committed(app):
    teacher_id, _, _ = make_classes(app, 1)
    with app.test_request_context():
        db.session.get(User, teacher_id).first_name = "Changed"
        end_read_only_transaction(None)
        assert db.session().in_transaction()
    with app.app_context():
        assert db.session.get(User, teacher_id).first_name == "Tess"


def test_a_request_that_failed_is_not_committed(app):
    teacher_id, _, _ = make_classes(app, 1)
    with app.test_request_context():
        db.session.get(User, teacher_id)  # read only
        end_read_only_transaction(RuntimeError("the view failed"))
        assert db.session().in_transaction()


def test_the_dashboard_queries_stay_prepared_between_requests(app):
    """On PostgreSQL, psycopg prepares a query the fifth time a connection runs it, and forgets
    every prepared query at a ROLLBACK. On SQLite the commit above is all there is to see."""
    teacher_id, _, _ = make_classes(app, 3)
    client = signed_in_client(app, teacher_id)
    for _ in range(6):
        assert client.get("/dashboard").status_code == 200
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return
        prepared = db.session.scalars(
            text("SELECT statement FROM pg_prepared_statements WHERE statement LIKE 'SELECT %'")
        ).all()
    assert any("FROM sections" in statement for statement in prepared), prepared
    assert any("FROM sync_runs" in statement for statement in prepared), prepared
