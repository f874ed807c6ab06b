from app import create_app
from clever.embedded_redis import RedisProcess


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_follows_a_real_redis_server_going_down_and_coming_back(app_config, schema):
    with RedisProcess() as server:
        app = create_app({**app_config, "REDIS_URL": server.url})
        client = app.test_client()
        assert client.get("/healthz").status_code == 200

        server.stop()
        down = client.get("/healthz")
        assert down.status_code == 503
        assert down.json["redis"] == "unavailable"
        assert down.json["database"] == "ok"
        # A request carrying a session fails closed with a friendly 503, not a stack trace.
        client.set_cookie("session", "a-session-id-from-before-the-outage")
        page = client.get("/dashboard")
        assert page.status_code == 503
        assert page.headers["Retry-After"]
        assert "Traceback" not in page.get_data(as_text=True)

        server.start()
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200
        assert client.get("/dashboard").status_code == 302  # that session is simply unknown


def test_healthz_reports_a_broken_database(app_config, schema, tmp_path):
    app = create_app({**app_config, "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/x.sqlite"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unavailable"
