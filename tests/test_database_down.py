"""PostgreSQL stopped under a running app: every page a friendly 503 with Retry-After, /healthz a
503 in JSON, no bare 500 anywhere; started again, the same app recovers without a restart.

The cluster is this test's own (initdb into a temporary directory), so stopping it harms no
other test or engineer. It runs on CI: without PostgreSQL's binaries it fails there.
"""

from __future__ import annotations

import pytest
import requests
from live import serve
from pg_cluster import PostgresCluster, need_postgres_binaries

from clever.sessions import begin_session
from models import User, db

SIGNED_IN_PAGES = ("/", "/dashboard", "/classes/1", "/sync/status", "/sync/history", "/nope")


@pytest.fixture
def cluster():
    server = PostgresCluster(need_postgres_binaries()).init()
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def pg_app(cluster, app_config, redis_client):
    from flask_migrate import upgrade

    from app import create_app

    application = create_app({**app_config, "DATABASE_URL": cluster.url})

    @application.get("/_test/login/<int:user_id>")
    def _test_login(user_id):
        begin_session(db.session.get(User, user_id))
        return "ok"

    with application.app_context():
        upgrade()
        db.session.add(User(clever_id="c-db", first_name="Dana", last_name="Down", role="student"))
        db.session.commit()
    yield application
    redis_client.flushdb()


def get(url: str, cookies=None) -> requests.Response:
    return requests.get(url, cookies=cookies, allow_redirects=False, timeout=30)


@pytest.mark.timeout(120)
def test_database_down_gives_friendly_503s_and_recovers_without_a_restart(cluster, pg_app):
    base = serve(pg_app)
    url = next(base)
    try:
        cookies = get(f"{url}/_test/login/1").cookies
        assert "Dana" in get(f"{url}/dashboard", cookies).text

        cluster.stop()
        health = get(f"{url}/healthz", cookies)
        assert health.status_code == 503
        assert health.json()["database"] == "unavailable" and health.json()["redis"] == "ok"
        for path in SIGNED_IN_PAGES:
            page = get(url + path, cookies)
            assert page.status_code == 503, (path, page.status_code)
            assert page.headers["Retry-After"] == "30"
            assert "be right back" in page.text and "Dana" not in page.text
            assert page.headers["Cache-Control"] == "no-store"
        # Anonymous visitors: pages that need no database still work; the rest are 503s.
        assert get(f"{url}/").status_code == 200
        assert get(f"{url}/healthz").status_code == 503

        cluster.start()
        assert get(f"{url}/healthz", cookies).status_code == 200
        assert "Dana" in get(f"{url}/dashboard", cookies).text
    finally:
        base.close()
