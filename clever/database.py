"""Database binding: SQLAlchemy, migrations, SQLite made as strict as PostgreSQL, and a
request that only read ending its transaction with COMMIT (see end_read_only_transaction)."""

from __future__ import annotations

import contextlib
import os
import sqlite3

from flask import Flask
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction

from clever.config import TUNABLES
from clever.extensions import migrate
from models import db

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")
# Connection.info keys: whether the transaction in progress has sent anything but a SELECT;
# Session.info: the connection its transaction runs on.
WROTE = "roster_room_wrote"
CONNECTION = "roster_room_connection"


@event.listens_for(Engine, "connect")
def strict_sqlite(dbapi_connection, _record):
    # SQLite enforces neither foreign keys nor waits on locks unless asked.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        busy_ms = int(TUNABLES["SQLITE_BUSY_TIMEOUT_SECONDS"]) * 1000
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


@event.listens_for(Engine, "begin")
def nothing_written_yet(connection: Connection) -> None:
    connection.info[WROTE] = False


@event.listens_for(Engine, "before_cursor_execute")
def note_writes(connection, _cursor, statement, _parameters, _context, _executemany) -> None:
    # Anything but a plain SELECT counts as a write (INSERT, UPDATE, a WITH ... of any kind).
    if not connection.info.get(WROTE) and statement.lstrip()[:6].upper() != "SELECT":
        connection.info[WROTE] = True


@event.listens_for(Session, "after_begin")
def remember_connection(
    session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    session.info[CONNECTION] = connection


def end_read_only_transaction(error: BaseException | None) -> None:
    """A request that only read ends its transaction with COMMIT, not Flask-SQLAlchemy's
    ROLLBACK: the two are the same to the database, but psycopg forgets every prepared
    statement of the connection at each ROLLBACK, so PostgreSQL planned each page's queries
    anew at every request (about two thirds of its CPU per dashboard). Anything else (an
    error, a write not committed, changes not flushed) is rolled back as before."""
    if not db.session.registry.has():
        return  # this request never used the database
    session = db.session()
    connection = session.info.get(CONNECTION)
    if (
        error is not None
        or connection is None
        or not session.is_active
        or not connection.in_transaction()
        or connection.info.get(WROTE, True)
        or session.new
        or session.dirty
        or session.deleted
    ):
        return
    # Nothing was written: if even the COMMIT fails, the session's teardown cleans up as ever.
    with contextlib.suppress(sa_exc.SQLAlchemyError):
        session.commit()


def init_database(app: Flask) -> None:
    # hide_parameters: SQL parameters (names, emails) never reach logs or tracebacks.
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", {"hide_parameters": True, "pool_pre_ping": True}
    )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:"):
        os.makedirs(app.instance_path, exist_ok=True)
    db.init_app(app)
    app.teardown_request(end_read_only_transaction)  # before Flask-SQLAlchemy's own teardown
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
