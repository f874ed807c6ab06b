"""Benchmarks are not collected by default (pyproject: norecursedirs); run them on purpose with
`make bench` (`.venv/bin/pytest tests/bench -s -p no:randomly`), or one file by its path. Their
files are named bench_*.py, collected here.

Here the sandbox runs in its own process, as Clever runs on its own machines: in-process it
would share the app's GIL, and its JSON rendering would count as our latency. It runs under
gunicorn, which keeps connections alive as Clever's API does: Werkzeug's server (``python -m
clever.sandbox``) closes each connection after one answer, so every request would pay for a
new connection, and the sandbox for a new thread, in the round trips measured.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests
from flows import PRIMARY_REDIRECT_URI
from sandbox_server import SandboxServer

from clever.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from clever.embedded_redis import free_port

GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")


def pytest_collect_file(file_path, parent):
    # A file named on the command line is collected by pytest itself (whatever its name):
    # collecting it here too would run every benchmark in it twice.
    if parent.session.isinitpath(file_path):
        return None
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


class ExternalSandbox(SandboxServer):
    """`python -m clever.sandbox` in a subprocess, driven through the same control API."""

    def __init__(self) -> None:
        super().__init__(redirect_uris=(PRIMARY_REDIRECT_URI,))
        self._url = f"http://127.0.0.1:{free_port()}"
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return self._url

    def start(self) -> ExternalSandbox:
        port = self._url.rsplit(":", 1)[1]
        factory = (
            f"clever.sandbox.app:create_sandbox_app(client_id={DEMO_CLIENT_ID!r}, "
            f"client_secret={DEMO_CLIENT_SECRET!r}, redirect_uris=({PRIMARY_REDIRECT_URI!r},), "
            "mode='test')"
        )
        self._process = subprocess.Popen(
            # One process (the sandbox's state lives in it), a thread per request in flight,
            # and connections kept alive between requests as Clever keeps them.
            # ``--config`` an empty file: not the app's gunicorn.conf.py of the working directory.
            [GUNICORN, "--config", os.devnull, "--workers", "1", "--worker-class", "gthread",
             "--threads", "64", "--keep-alive", "60", "--graceful-timeout", "1",
             "--bind", f"127.0.0.1:{port}",
             factory],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while True:
            try:
                requests.get(self._url + "/__sandbox__/faults", timeout=1)
                return self
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
        self._http.close()


@pytest.fixture(scope="session")
def sandbox():
    server = ExternalSandbox().start()
    yield server
    server.stop()
