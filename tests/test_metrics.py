"""clever/metrics.py: /metrics behind its token, and the counters a login and a sync move."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-token-for-tests"


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_without_the_token_metrics_are_a_404(app, client):
    assert client.get("/metrics").status_code == 404
    app.config["METRICS_TOKEN"] = TOKEN
    assert client.get("/metrics").status_code == 404
    wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 404


def test_a_login_and_a_sync_move_the_counters(app, flow, client):
    app.config["METRICS_TOKEN"] = TOKEN
    before = scrape(client)
    assert flow.portal_launch("ana").status == 200
    after = scrape(client)
    logins = "roster_room_logins_total"
    assert value(after, logins, entry="clever", result="ok") == (
        value(before, logins, entry="clever", result="ok") + 1
    )
    me = {"endpoint": "/v3.0/me", "status": "200"}
    calls = "roster_room_clever_request_seconds_count"
    assert value(after, calls, **me) == value(before, calls, **me) + 1
    # Issue 16: every student in one mystudents list, no longer one call per class.
    students = {"endpoint": "/v3.0/users/{id}/mystudents", "status": "200"}
    assert value(after, calls, **students) == value(before, calls, **students) + 1
    syncs = "roster_room_sync_seconds_count"
    ok = {"trigger": "login", "result": "ok"}
    assert value(after, syncs, **ok) == value(before, syncs, **ok) + 1
    assert not [key for key in after if "64a1f0c2" in repr(key)]  # no id ever a label


def test_failures_and_rate_limits_are_counted(app, flow, client, sandbox):
    app.config["METRICS_TOKEN"] = TOKEN
    before = scrape(client)
    sandbox.add_fault(path="/oauth/tokens", status=500)
    flow.portal_launch("mateo")
    app.config["OAUTH_RATE_LIMIT"] = "1 per minute"
    statuses = [client.get("/auth/clever/login").status_code for _ in range(2)]
    assert statuses == [302, 429]
    after = scrape(client)
    logins = "roster_room_logins_total"
    failed = {"entry": "clever", "result": "clever_unavailable"}
    assert value(after, logins, **failed) == value(before, logins, **failed) + 1
    limited = "roster_room_rate_limited_total"
    route = {"route": "auth.clever_login"}
    assert value(after, limited, **route) == value(before, limited, **route) + 1
