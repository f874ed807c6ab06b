"""A throwaway PostgreSQL cluster that a test may stop and start at will (as ``.ci/run`` starts
one): initdb into a temporary directory, run as the ``postgres`` user when we are root."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest
from e2e.browsers import browsers_required

from clever.embedded_redis import free_port


def pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


def need_postgres_binaries() -> str:
    """The server binaries' directory; skip without them, fail on CI (it must never skip)."""
    found = pg_bin()
    if found is None:
        if browsers_required():
            pytest.fail(
                "PostgreSQL server binaries are required on CI; run .ci/install-system-deps",
                pytrace=False,
            )
        pytest.skip("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed")
    return found


class PostgresCluster:
    def __init__(self, bin_dir: str) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix="wt-pg-")
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            os.chmod(self.data, 0o755)
            shutil.chown(self.data, "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str) -> None:
        command = [os.path.join(self.bin_dir, tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> PostgresCluster:
        self.run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c fsync=off -c listen_addresses=127.0.0.1"
        self.run("pg_ctl", "-D", self.data, "-w", "-l", f"{self.data}/log", "-o", options, "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.data, ignore_errors=True)


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """A started cluster, destroyed on exit."""
    cluster = PostgresCluster(need_postgres_binaries()).init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()
