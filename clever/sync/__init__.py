"""Roster sync: read everything from Clever first, then apply it in one transaction.

Which token reads it (``access``): a Library login's own token (lists read whole, never a
paging parameter), or for a district login the district-app token of its district (listed with
the app's client credentials, cached encrypted in Redis, paging with a large ``limit``). A
district login's own token is used for ``/me``, its own user and its own district only. A
district that shares no rosters gets no read at all: the run says so (``clever_no_rosters``).

What is read (no database writes while reading; worker threads never touch the database,
whose Flask-SQLAlchemy session belongs to the calling thread), see ``read.RosterReader``:

- a teacher: their sections (each carries its ``students`` and ``teachers`` id lists) beside
  ``/users/{id}/mystudents`` (every student in one list) and ``/users/{id}``; then only the
  co-teachers of the selected classes not read yet, with the fewest
  ``/sections/{id}/users?role=teacher`` reads that name them all;
- a student: their sections beside ``/users/{id}/myteachers`` (never their classmates);
- when Clever refuses the bulk list (403/404) or a class names someone it left out, that login
  (or that class) is read per class, ``/sections/{id}/users``: a log line without names, and
  the run's ``api_calls`` count the extra requests;
- district logins, best effort: the user's school and district, and each school, term and
  course the sections name (a Library token is never shown them, so none is asked for); a
  district or school record read less than ``CLEVER_ORGANISATION_MAX_AGE_HOURS`` ago
  (``clever_read_at``) is not read again, nor a term or course whose name Redis still holds.

Each next wave starts from the reader's own threads the moment the answer it needs arrives; a
login starts its read beside ``/users/{id}`` (``clever.login``), so provisioning, the session
and the token are stored while Clever answers.

How it is applied: upserts by Clever id, archive (``archived_at``) what disappeared, restore the
same row when it comes back, never delete. Nothing is assigned unless it differs, so a re-sync
with nothing changed writes only its ``SyncRun``. Any failure rolls everything back and records a
failed ``SyncRun`` in its own commit. A sync that would archive more than half of the active
students of a class of five or more holds that class (its roster stays as it was) for the
teacher to confirm or keep; every other change of the sync applies.

Counts on a ``SyncRun`` are roster entries: classes, class memberships (enrollments) and
teaching links added, archived or restored; ``updated`` counts changed classes, people and
links.

The package: ``read`` (the Clever side), ``apply`` (the database side), ``runs`` (one run: lock,
progress, the ``SyncRun``, the outcome; the lock a queued job resumes), ``status`` (what the
pages read about runs; held runs answered); ``clever.jobs`` queues manual syncs for a worker.
What a page reads about classes is in ``clever.roster``.
"""

from clever.sync.access import ReadPlan, RosterAccess, access_for
from clever.sync.apply import Apply, Counts, fresh_organisations
from clever.sync.read import NameCache, RosterReader, Snapshot, init_app, make_api
from clever.sync.runs import (
    NO_ROSTERS,
    PROGRESS_SECONDS,
    Progress,
    StartResult,
    SyncOutcome,
    SyncStatus,
    access_of,
    acquire_lock,
    error_code,
    lock_key,
    name_cache,
    progress_key,
    reader_inputs,
    release_lock,
    sync_user,
)
from clever.sync.status import (
    as_utc,
    class_holds,
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
    "init_app",
    "NO_ROSTERS",
    "PROGRESS_SECONDS",
    "Apply",
    "Counts",
    "NameCache",
    "Progress",
    "ReadPlan",
    "RosterAccess",
    "RosterReader",
    "Snapshot",
    "StartResult",
    "SyncOutcome",
    "SyncStatus",
    "access_for",
    "access_of",
    "acquire_lock",
    "as_utc",
    "class_holds",
    "confirm_held",
    "dismiss_held",
    "error_code",
    "fresh_organisations",
    "held_changes",
    "held_run",
    "last_sync",
    "latest_result",
    "lock_key",
    "make_api",
    "name_cache",
    "reader_inputs",
    "pending_held_run",
    "progress_key",
    "release_lock",
    "run_as_dict",
    "sync_history",
    "sync_status",
    "sync_user",
]
