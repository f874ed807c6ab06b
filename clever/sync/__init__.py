"""Roster sync: read everything from Clever first, then apply it in one transaction.

What is read (no database writes while reading; worker threads never touch the database,
whose Flask-SQLAlchemy session belongs to the calling thread):

- a teacher: their sections, and for each section they keep selected every user of it
  (one role-less ``/sections/{id}/users`` call gives students and co-teachers at once);
- a student: their sections, and each section's teachers (never their classmates);
- alongside the sections, best effort: the user's school and district (Library tokens get
  401/403/404 there, which is not a failure).

How it is applied: upserts by Clever id, archive (``archived_at``) what disappeared, restore the
same row when it comes back, never delete. Nothing is assigned unless it differs, so a re-sync
with nothing changed writes only its ``SyncRun``. Any failure rolls everything back and records a
failed ``SyncRun`` in its own commit. A sync that would archive more than half of the active
students of a class of five or more is held for the teacher to confirm.

Counts on a ``SyncRun`` are roster entries: classes, class memberships (enrollments) and
teaching links added, archived or restored; ``updated`` counts changed classes, people and
links.

The package: ``read`` (the Clever side), ``apply`` (the database side), ``runs`` (one run: lock,
progress, the ``SyncRun``, the outcome; the lock a queued job resumes), ``status`` (what the
pages read about runs; held runs answered); ``clever.jobs`` queues manual syncs for a worker.
What a page reads about classes is in ``clever.roster``.
"""

from clever.sync.apply import Apply, Counts, HeldSync
from clever.sync.read import RosterReader, Snapshot, make_api
from clever.sync.runs import (
    PROGRESS_SECONDS,
    Progress,
    StartResult,
    SyncOutcome,
    SyncStatus,
    acquire_lock,
    error_code,
    lock_key,
    progress_key,
    release_lock,
    sync_user,
)
from clever.sync.status import (
    as_utc,
    confirm_held,
    dismiss_held,
    held_changes,
    held_run,
    last_sync,
    latest_result,
    pending_held_run,
    run_as_dict,
    sync_history,
    sync_status,
)

__all__ = [
    "PROGRESS_SECONDS",
    "Apply",
    "Counts",
    "HeldSync",
    "Progress",
    "RosterReader",
    "Snapshot",
    "StartResult",
    "SyncOutcome",
    "SyncStatus",
    "acquire_lock",
    "as_utc",
    "confirm_held",
    "dismiss_held",
    "error_code",
    "held_changes",
    "held_run",
    "last_sync",
    "latest_result",
    "lock_key",
    "make_api",
    "pending_held_run",
    "progress_key",
    "release_lock",
    "run_as_dict",
    "sync_history",
    "sync_status",
    "sync_user",
]
