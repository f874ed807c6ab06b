"""clever/jobs.py with real worker processes: what a job carries, a worker killed mid-job, two
workers on one queue, and the queue depth on /metrics."""

from __future__ import annotations

import json
import time
import zlib

import pytest
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer
from sync_helpers import ensure_user
from test_metrics import TOKEN, scrape, value
from worker_process import WorkerProcess, wait_for_idle_queue

from clever import jobs, sync
from clever.sandbox import seed
from clever.tokens import load_token, store_token
from models import SyncRun, db

# Workers that look for abandoned jobs every second and retry one a second past its timeout.
FAST_RECOVERY = ("--maintenance-interval", "1", "--grace", "1")


@pytest.fixture
def own_workers(app, app_config, redis_url, rq_worker):
    """Stops the suite's worker; the test starts its own; the suite's comes back afterwards."""
    rq_worker.stop()
    started: list[WorkerProcess] = []

    def start(*options: str) -> WorkerProcess:
        worker = WorkerProcess(app_config, *options).start()
        started.append(worker)
        return worker

    yield start
    wait_for_idle_queue(redis_url)
    for worker in started:
        worker.stop()
    rq_worker.start()


def press_sync_now(app, sandbox, persona: str) -> int:
    """What POST /sync does for ``persona`` (who has a Clever token); returns the user id."""
    with app.test_request_context():
        user = ensure_user(persona)
        if load_token(user.id) is None:
            store_token(user.id, sandbox.issue_token(persona))
        assert jobs.start_manual_sync(user) == "started"
        return user.id


def wait_until_done(app, redis_client, user_id: int, timeout: float = 60.0) -> list[SyncRun]:
    """Until the user's lock is gone (the job released it); then their manual runs."""
    deadline = time.monotonic() + timeout
    while redis_client.exists(sync.lock_key(user_id)):
        assert time.monotonic() < deadline, "the sync did not finish"
        time.sleep(0.05)
    with app.app_context():
        runs = db.session.scalars(
            db.select(SyncRun).filter_by(user_id=user_id, trigger="manual").order_by(SyncRun.id)
        ).all()
        db.session.expunge_all()
        return list(runs)


def job_hashes(redis_client) -> list[dict[bytes, bytes]]:
    return [redis_client.hgetall(key) for key in redis_client.scan_iter("rq:job:*")]


def test_a_job_carries_ids_only(app, sandbox, redis_client):
    user_id = press_sync_now(app, sandbox, "ana")
    runs = wait_until_done(app, redis_client, user_id)
    assert [run.status for run in runs] == ["ok"]
    (stored,) = [h for h in job_hashes(redis_client) if b"data" in h]
    with app.app_context():
        token = load_token(user_id)
    function, _instance, args, kwargs = json.loads(zlib.decompress(stored[b"data"]))
    assert function == "clever.jobs.run_manual_sync" and kwargs == {}
    user_arg, shrink, lock_token, run_id = args
    assert (user_arg, shrink) == (user_id, []) and len(lock_token) == 32
    assert run_id == runs[0].id  # the worker recorded it on the row queued with the request
    # The data field compressed, the rest as stored (compressed bytes can hold any byte, "@" too).
    fields = [value for key, value in stored.items() if key != b"data"]
    everything = b" ".join([*stored.keys(), *fields, zlib.decompress(stored[b"data"])])
    persona = seed.PERSONAS["ana"]
    for secret in (token, *persona.name.split(), persona.user_id, "@"):
        assert secret.encode() not in everything, secret
    assert stored[b"description"] == f"manual sync of user {user_id}".encode()


def run_is_open(app, user_id: int) -> bool:
    with app.app_context():
        found = db.session.scalar(
            db.select(SyncRun.id).filter_by(user_id=user_id, status="running")
        )
        db.session.remove()
        return found is not None


def test_a_job_whose_worker_is_killed_is_retried_and_completes_once(
    app, sandbox, redis_client, own_workers, monkeypatch
):
    first = own_workers(*FAST_RECOVERY)
    # A short timeout, so the abandoned job is found within seconds (timeout + grace).
    monkeypatch.setitem(app.config, "SYNC_JOB_TIMEOUT", 5)
    # The first reads are slow: the job is surely mid-way when its worker dies.
    sandbox.add_fault(path="/v3.0/*", delay=1.5, times=4)
    user_id = press_sync_now(app, sandbox, "ana")
    deadline = time.monotonic() + 20
    # Mid-way: its run row is open (reads already go out before it is written) and a slow read
    # is in flight.
    while not run_is_open(app, user_id) or not any(
        r["path"].startswith("/v3.0/") for r in sandbox.requests_log(kind="api")
    ):
        assert time.monotonic() < deadline, "the worker never started the sync"
        time.sleep(0.05)
    first.kill()
    killed_at = time.monotonic()
    own_workers(*FAST_RECOVERY)
    runs = wait_until_done(app, redis_client, user_id)
    # The dead attempt's run is closed as interrupted; the retry applied the roster once.
    assert [(run.status, run.error) for run in runs] == [("failed", "interrupted"), ("ok", None)]
    assert time.monotonic() - killed_at < 30
    queue = jobs.sync_queue(redis_client)
    assert queue.failed_job_registry.count == 0
    (job_id,) = queue.finished_job_registry.get_job_ids()
    job = Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)
    assert job.retries_left == 0 and job.return_value() == "ok"
    assert not redis_client.exists(sync.lock_key(user_id))


def test_two_workers_share_the_queue(app, sandbox, redis_client, own_workers):
    workers = [own_workers(), own_workers()]
    sandbox.add_fault(path="/v3.0/users/*/sections", delay=0.5)
    personas = ["ana", "devon", "zoe", "priya", "library", "mateo"]
    user_ids = [press_sync_now(app, sandbox, persona) for persona in personas]
    for user_id in user_ids:
        assert [run.status for run in wait_until_done(app, redis_client, user_id)] == ["ok"]
    names = [h[b"worker_name"].decode() for h in job_hashes(redis_client) if b"data" in h]
    assert len(names) == len(personas)
    assert {worker.name for worker in workers} == set(names)


def test_the_queue_depth_is_read_at_scrape_time(app, client, own_workers):
    app.config["METRICS_TOKEN"] = TOKEN
    with app.app_context():
        queue: Queue = jobs.sync_queue()
        assert value(scrape(client), "roster_room_sync_queue_jobs") == 0
        for user_id in (101, 102, 103):
            jobs.enqueue_manual_sync(user_id, (), "not-a-lock-token")
        assert value(scrape(client), "roster_room_sync_queue_jobs") == 3
        queue.empty()
        assert value(scrape(client), "roster_room_sync_queue_jobs") == 0
