"""Shared fixtures: a real Redis, a real database, the built-in Clever sandbox over real HTTP,
a real RQ worker process, and the app (test client and a live server on a real port)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import redis as redis_lib
from flows import APP_ORIGIN, APP_PORT, PRIMARY_REDIRECT_URI, CleverFlow
from live import serve
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server
from worker_process import WorkerProcess, wait_for_idle_queue

from clever.embedded_redis import RedisProcess

# What the strict server changes of the test configuration.
STRICT_CONFIG = {"WTF_CSRF_ENABLED": True, "TRUSTED_HOSTS": "127.0.0.1,localhost"}


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL when the environment names a server (CI's real redis-server), else our own."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with RedisProcess() as server:
        yield server.url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return os.environ.get("DATABASE_URL") or "sqlite:///" + str(
        tmp_path_factory.mktemp("db") / "test.sqlite"
    )


@pytest.fixture(scope="session")
def sandbox():
    from sandbox_server import SandboxServer

    from clever.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

    server = SandboxServer(
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        redirect_uris=[PRIMARY_REDIRECT_URI],
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def app_config(redis_url, database_url, sandbox) -> dict:
    return {
        "APP_ENV": "test",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLEVER_REDIRECT_URI": PRIMARY_REDIRECT_URI,
        "CLEVER_OAUTH_BASE_URL": sandbox.url,
        "CLEVER_API_BASE_URL": sandbox.url,
        "SESSION_IDLE_MINUTES": "30",
        "WTF_CSRF_ENABLED": False,
        # Production-like error handling: exceptions reach our error pages, not pytest.
        "PROPAGATE_EXCEPTIONS": False,
    }


@pytest.fixture(scope="session")
def schema(app_config):
    """Create the schema through the migrations, as production does."""
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(app_config)
    with app.app_context():
        from models import db

        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
    return True


def wipe_database(url: str) -> None:
    from models import db

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


@pytest.fixture(scope="session")
def rq_worker(app_config, schema) -> Iterator[WorkerProcess]:
    """``flask --app app rq-worker`` on the test app's database and Redis: Sync now runs there."""
    worker = WorkerProcess(app_config).start()
    yield worker
    worker.stop()


@pytest.fixture
def app(app_config, schema, sandbox, redis_url, rq_worker):
    from app import create_app

    application = create_app(app_config)
    yield application
    wait_for_idle_queue(redis_url)
    wipe_database(app_config["DATABASE_URL"])
    redis_lib.Redis.from_url(redis_url).flushdb()
    sandbox.reset()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def redis_client(redis_url):
    return redis_lib.Redis.from_url(redis_url)


@pytest.fixture(scope="session")
def _live_server(app_config, schema):
    from app import create_app

    application = create_app(app_config)
    server = make_server("127.0.0.1", APP_PORT, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield APP_ORIGIN
    server.shutdown()


@pytest.fixture
def live_url(app, _live_server) -> str:
    """The app served over real HTTP; depends on ``app`` so state is wiped after each test."""
    return _live_server


@pytest.fixture(scope="session")
def _strict_server(app_config, schema):
    from app import create_app

    yield from serve(create_app({**app_config, **STRICT_CONFIG}))


@pytest.fixture
def strict_url(app, _strict_server) -> str:
    """A second server on the same Redis and database, configured as production is: CSRF
    tokens on and ``TRUSTED_HOSTS``. Sign in through ``live_url`` and bring the cookie here."""
    return _strict_server


@pytest.fixture
def flow(client, sandbox) -> CleverFlow:
    """A browser-like walk through app and sandbox (test client + real HTTP to the sandbox)."""
    return CleverFlow(client, sandbox, APP_ORIGIN, PRIMARY_REDIRECT_URI)
