"""The job queue for manual syncs: RQ on the app's Redis.

"Sync now" takes the user's sync lock and starts the progress hash in the request (a second
click is "busy" at once), then enqueues a job on the ``sync`` queue; a worker process
(``flask --app app rq-worker``, any number of them on any host) runs it. The job's arguments
are the user id, the confirmed shrinks (Clever section ids) and the lock's random value: never
a Clever token or a name. The job resolves its tokens (``access_of``: the user's, or the
district-app token of a district login) and releases the lock.

A worker that dies mid-job (``kill -9``, out of memory, a host lost) leaves its job in RQ's
StartedJobRegistry with an expiry of the job timeout plus a grace. Once that has passed, the
registry cleanup that workers run every ``SYNC_WORKER_MAINTENANCE_SECONDS`` finds the job
abandoned and, as it was enqueued with ``Retry(max=SYNC_JOB_RETRIES)``, puts it back on the
queue; the retry takes over the lock with the same random value and starts the sync again (the
dead attempt's run row is closed as "interrupted"). A stopped worker (SIGTERM: deploys,
``systemctl stop``) first finishes the job it holds.

No fork: ``SimpleWorker`` runs jobs in the worker process, which built the app once. Forking a
work horse per job would copy SQLAlchemy's connection pool (and the app's Redis connections)
into children that must not share their sockets, and buy nothing here: a sync is I/O-bound and
never crashes the process in ways a fork would contain. The job timeout is still enforced
(SIGALRM in the worker's main thread).
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import redis
from flask import Flask, current_app
from rq import Queue, Retry, SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer

from clever.sessions import get_redis
from clever.sync.runs import (
    Progress,
    StartResult,
    access_of,
    acquire_lock,
    lock_token,
    queue_run,
    release_lock,
    resume_lock,
    sync_user,
)
from models import User, db

log = logging.getLogger("clever.jobs")

QUEUE_NAME = "sync"
# Failed jobs hold ids only; a week is enough to look at them.
FAILURE_TTL = 7 * 24 * 3600


def sync_queue(connection: redis.Redis | None = None) -> Queue:
    # JSON, not pickle: the payload stays readable (and checkably free of personal data).
    return Queue(QUEUE_NAME, connection=connection or get_redis(), serializer=JSONSerializer)


# -- in the request -------------------------------------------------------------------------------


def start_manual_sync(user: User, *, allow_shrink: Collection[str] = ()) -> StartResult:
    """Take the lock, start the progress and enqueue the sync; return at once."""
    if not user.clever_id:
        return "not_clever"
    if access_of(user) is None:
        return "no_token"
    lock = acquire_lock(user.id)
    if lock is None:
        return "busy"
    try:
        # Visible to /sync/status and the dashboard before any worker has picked the job up.
        run_id = queue_run(user, "manual")
        Progress(get_redis(), user.id).start()
        enqueue_manual_sync(user.id, allow_shrink, lock_token(lock), run_id)
    except Exception:
        release_lock(lock)  # a queued row left behind is closed by the next sync
        raise
    return "started"


def enqueue_manual_sync(
    user_id: int, allow_shrink: Collection[str], token: str, run_id: int | None = None
) -> Job:
    config = current_app.config
    return sync_queue().enqueue(
        run_manual_sync,
        user_id,
        sorted(allow_shrink),
        token,
        run_id,
        job_timeout=config["SYNC_JOB_TIMEOUT"],
        retry=Retry(max=config["SYNC_JOB_RETRIES"]),
        failure_ttl=FAILURE_TTL,
        # The default description repeats the arguments; this one names the user id only.
        description=f"manual sync of user {user_id}",
    )


# -- in the worker --------------------------------------------------------------------------------


def run_manual_sync(
    user_id: int, allow_shrink: list[str], token: str, run_id: int | None = None
) -> str | None:
    """The job (inside the app context, see AppWorker): one manual sync with the request's lock,
    recorded on the row the request queued (``run_id``; a job queued before it existed has
    none)."""
    lock = resume_lock(user_id, token)
    if lock is None:
        log.info("manual sync of user %s skipped: another sync holds the lock", user_id)
        return None
    try:
        user = db.session.get(User, user_id)
        access = access_of(user) if user is not None else None
        if access is None:  # gone, or logged out since: the lock's release ends the progress
            return None
        outcome = sync_user(
            user, access, "manual", allow_shrink=allow_shrink, lock=lock, queued_run=run_id
        )
        return outcome.status if outcome else None
    finally:
        release_lock(lock)


class AppWorker(SimpleWorker):
    """Runs each job inside the app's context, in this process (no fork: see the module)."""

    def __init__(self, *args, app: Flask, grace: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.app = app
        self.grace = grace

    def execute_job(self, job: Job, queue: Queue) -> None:
        # The context's teardown returns the database session to the pool after every job.
        with self.app.app_context():
            super().execute_job(job, queue)

    @property
    def dequeue_timeout(self) -> int:
        # RQ looks for abandoned jobs only between two dequeues, and by default blocks on an
        # empty queue for 405 s: wait no longer than the maintenance interval.
        return self.maintenance_interval

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # How long the job stays in StartedJobRegistry without this worker: past it, the job is
        # abandoned and retried. SimpleWorker sends no heartbeat during a job, so this is set
        # once at its start: the timeout (enforced here) plus a grace for the bookkeeping.
        return int(job.timeout or self.app.config["SYNC_JOB_TIMEOUT"]) + self.grace


def run_worker(
    app: Flask, *, name: str | None, burst: bool, maintenance_interval: int, grace: int
) -> bool:
    """Work the sync queue until stopped (or, with ``burst``, until it is empty)."""
    # A connection of its own without the app's 2 s socket timeout: the dequeue blocks for up
    # to the maintenance interval (RQ sets the socket timeout it needs on this pool).
    connection = redis.Redis.from_url(app.config["REDIS_URL"], health_check_interval=30)
    worker = AppWorker(
        [sync_queue(connection)],
        connection=connection,
        serializer=JSONSerializer,
        name=name,
        maintenance_interval=maintenance_interval,
        app=app,
        grace=grace,
    )
    return worker.work(burst=burst, with_scheduler=False)
