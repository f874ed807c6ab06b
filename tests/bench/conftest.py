"""Benchmarks are not collected by default (pyproject: norecursedirs); run them on purpose with
`make bench` (`.venv/bin/pytest tests/bench -s -p no:randomly`), or one file by its path. Their
files are named bench_*.py, collected here.

Here the sandbox runs in its own process, as Clever runs on its own machines: in-process it
would share the app's GIL, and its JSON rendering would count as our latency.
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
        env = dict(
            os.environ,
            CLEVER_CLIENT_ID=DEMO_CLIENT_ID,
            CLEVER_CLIENT_SECRET=DEMO_CLIENT_SECRET,
            CLEVER_REDIRECT_URI=PRIMARY_REDIRECT_URI,
        )
        port = self._url.rsplit(":", 1)[1]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "clever.sandbox", "--port", port, "--mode", "test"],
            env=env,
            stderr=subprocess.DEVNULL,
        )
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
