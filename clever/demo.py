"""`make demo`: migrate, seed, and serve the app on :5000 beside the Clever sandbox on :5001, with
one RQ worker for Sync now.

Starts an embedded Redis when REDIS_URL is unset. Ctrl-C (or SIGTERM) stops everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from clever.config import DEMO_SANDBOX_URL
from clever.embedded_redis import die_with_parent

APP_PORT = 5000
SANDBOX_PORT = 5001
DEMO_LOCAL_EMAIL = "ana.legacy@example.org"
DEMO_LOCAL_PASSWORD = "roster-room-demo"
READY = (
    "\n  Roster Room demo is running:\n"
    f"    app      http://localhost:{APP_PORT}  (click “Try the free demo”)\n"
    f"    sandbox  http://localhost:{SANDBOX_PORT}  (simulated Clever: Portal, Library)\n"
    f"    local account for the link demo: {DEMO_LOCAL_EMAIL} / {DEMO_LOCAL_PASSWORD}\n"
    "  Press Ctrl-C to stop.\n"
)


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own localhost URL
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def seed_local_account(env: dict) -> None:
    """A pre-Clever local account, so the demo can show linking it on a first Clever login."""
    code = (
        "from app import create_app\n"
        "from clever.local_accounts import ensure_local_account\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        f"    ensure_local_account({DEMO_LOCAL_EMAIL!r}, {DEMO_LOCAL_PASSWORD!r}, 'Ana', 'Núñez')\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def demo_environment() -> dict:
    env = dict(os.environ)
    env.setdefault("APP_ENV", "development")
    env.setdefault("CLEVER_OAUTH_BASE_URL", DEMO_SANDBOX_URL)
    env.setdefault("CLEVER_API_BASE_URL", DEMO_SANDBOX_URL)
    env.setdefault("SECRET_KEY", "demo-" + os.urandom(24).hex())
    return env


def start_child(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        env=env,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - no threads exist yet
    )


def main() -> int:
    env = demo_environment()
    children: list[subprocess.Popen] = []
    redis_server = None
    if not env.get("REDIS_URL"):
        from clever.embedded_redis import RedisProcess

        redis_server = RedisProcess().start()
        env["REDIS_URL"] = redis_server.url

    def stop(*_args: object) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if redis_server:
            redis_server.stop()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    die_with_parent()
    try:
        flask_app = ["-m", "flask", "--app", "app"]
        subprocess.run([sys.executable, *flask_app, "db", "upgrade"], env=env, check=True)
        seed_local_account(env)
        children.append(start_child(["-m", "clever.sandbox", "--port", str(SANDBOX_PORT)], env))
        children.append(start_child([*flask_app, "run", "--port", str(APP_PORT)], env))
        children.append(start_child([*flask_app, "rq-worker"], env))
        wait_for(f"http://localhost:{SANDBOX_PORT}/")
        wait_for(f"http://localhost:{APP_PORT}/healthz")
        print(READY, flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("error: a demo process exited; stopping", file=sys.stderr)
        stop()
    except (subprocess.CalledProcessError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
