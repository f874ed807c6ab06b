"""A real RQ worker (``flask --app app rq-worker``) in a subprocess, with the test app's settings
passed through the environment (the token key is derived from SECRET_KEY, as in the app)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import redis as redis_lib
from rq import Queue

from clever.config import ENV_NAMES
from clever.jobs import QUEUE_NAME


def worker_environment(app_config: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env.update({k: str(v) for k, v in app_config.items() if k in ENV_NAMES and v is not None})
    env["PYTHONUNBUFFERED"] = "1"
    return env


class WorkerProcess:
    def __init__(self, app_config: dict, *options: str, name: str | None = None) -> None:
        self.env = worker_environment(app_config)
        self.redis = redis_lib.Redis.from_url(app_config["REDIS_URL"])
        self.options = options
        self.name = name or f"test-worker-{uuid.uuid4().hex[:8]}"
        self.process: subprocess.Popen | None = None
        self.log_path = os.path.join(tempfile.gettempdir(), f"{self.name}.log")

    def start(self, timeout: float = 30.0) -> WorkerProcess:
        command = [sys.executable, "-m", "flask", "--app", "app", "rq-worker"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*command, "--name", self.name, *self.options],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        # Registered in Redis: it is listening (or about to block on the queue).
        while not self.redis.exists(f"rq:worker:{self.name}"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"worker {self.name} did not start:\n{self.output()}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def kill(self) -> None:
        """kill -9: no warm shutdown, no cleanup; the job it held is abandoned."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # warm shutdown: finishes the job it holds
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for_idle_queue(redis_url: str, timeout: float = 60.0) -> None:
    """No job waiting and none running: a test's syncs never spill into the next test."""
    queue = Queue(QUEUE_NAME, connection=redis_lib.Redis.from_url(redis_url))
    deadline = time.monotonic() + timeout
    while queue.count or queue.started_job_registry.count:
        assert time.monotonic() < deadline, "the sync queue did not drain"
        time.sleep(0.05)
