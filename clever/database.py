"""Database binding: SQLAlchemy, migrations, and SQLite made as strict as PostgreSQL."""

from __future__ import annotations

import os
import sqlite3

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from clever.config import TUNABLES
from clever.extensions import migrate
from models import db

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")


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


def init_database(app: Flask) -> None:
    # hide_parameters: SQL parameters (names, emails) never reach logs or tracebacks.
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", {"hide_parameters": True, "pool_pre_ping": True}
    )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:"):
        os.makedirs(app.instance_path, exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
