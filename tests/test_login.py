"""clever/login.py: the login service (its flows over real HTTP are in test_auth.py and
test_auth_failures.py, the no-usable-role refusal included)."""

from __future__ import annotations

import ast
import pathlib
from concurrent.futures import ThreadPoolExecutor

from clever import login

CLEVER = pathlib.Path(__file__).parent.parent / "clever"


def test_the_prefetch_pool_belongs_to_each_app(app, app_config):
    from app import create_app

    other = create_app(app_config)
    pool = app.extensions[login.EXTENSION]
    assert isinstance(pool, ThreadPoolExecutor)
    assert pool is not other.extensions[login.EXTENSION]
    assert pool._max_workers == app.config["LOGIN_PREFETCH_WORKERS"]


def test_no_module_holds_a_thread_pool_or_other_process_state():
    """Pools are created per app or per service call, never at import time."""
    offenders = []
    for path in CLEVER.rglob("*.py"):
        if "sandbox" in path.parts or "migrations" in path.parts:
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
                name = ast.unparse(node.value.func)
                if "Executor" in name or "Thread" in name or "Lock" in name:
                    offenders.append(f"{path.name}: {ast.unparse(node)[:60]}")
    assert offenders == []
