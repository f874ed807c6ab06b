"""Rows several requests may create at the same moment, and transactions the database aborts.

On the first morning of school many first logins whose rosters overlap run at once: two syncs
both meet a student nobody has stored yet. ``insert_missing`` writes such rows with the
database's own upsert (``INSERT … ON CONFLICT DO NOTHING``, PostgreSQL and SQLite), so the
second insert waits for the first and then does nothing instead of failing. What the database
still aborts (a deadlock, a serialization failure, a locked SQLite file) is retried by the
caller, from the start of its transaction, when ``is_retryable`` says so.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from models import db

ROWS_PER_INSERT = 200  # × a handful of columns: well under every database's parameter limit

# SQLSTATEs of a transaction PostgreSQL aborted so that another could go on.
RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def insert_missing(
    model: type, rows: Iterable[dict[str, Any]], keys: Sequence[str]
) -> set[tuple[Any, ...]]:
    """Insert the ``rows`` whose ``keys`` no row has yet, in the session's transaction; return
    the keys of the rows this statement inserted (the others existed, or a concurrent
    transaction inserted them first and committed).

    Rows go in key order, so two transactions inserting overlapping sets take their locks in
    the same order and cannot deadlock on each other.
    """
    ordered = sorted(rows, key=lambda row: tuple(row[key] for key in keys))
    if not ordered:
        return set()
    # One multi-row VALUES needs the same columns in every row: a column some rows leave out
    # is NULL in them, as a single-row insert would have left it (callers give every column
    # that has a default, or leave it out of every row).
    columns = list(dict.fromkeys(column for row in ordered for column in row))
    ordered = [{column: row.get(column) for column in columns} for row in ordered]
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = model.__table__  # type: ignore[attr-defined]
    inserted: set[tuple[Any, ...]] = set()
    for start in range(0, len(ordered), ROWS_PER_INSERT):
        statement = (
            insert(table)
            .values(ordered[start : start + ROWS_PER_INSERT])
            .on_conflict_do_nothing(index_elements=list(keys))
            .returning(*(table.c[key] for key in keys))
        )
        inserted.update(tuple(row) for row in db.session.execute(statement))
    return inserted


def is_retryable(error: BaseException) -> bool:
    """A transaction the database gave up on because of another one: trying again can work."""
    if isinstance(error, sa_exc.IntegrityError):
        return True  # a unique key another transaction took first; a fresh read sees its row
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    # SQLite: the busy timeout ran out while another connection held the write lock.
    return isinstance(error, sa_exc.OperationalError) and "locked" in str(error.orig)


def pause_before_retry(attempt: int, base: float = 0.05) -> None:
    """Full-jitter exponential backoff: ~0.1 s, 0.2 s, 0.4 s …, so the transactions that
    collided do not collide again in lockstep."""
    time.sleep(random.uniform(0, base * 2**attempt))
