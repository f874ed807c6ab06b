"""clever/logs.py: codes, states and tokens never reach a log line intact."""

import logging

from clever.logs import RedactingFilter, redact


def test_redaction_of_codes_states_and_tokens():
    line = (
        "GET /auth/clever/callback?code=abc123&state=xyz.1 HTTP/1.1 "
        'Authorization: Bearer tok_secret {"access_token": "tok_secret"}'
    )
    cleaned = redact(line)
    for secret in ("abc123", "xyz.1", "tok_secret"):
        assert secret not in cleaned
    assert "code=[redacted]" in cleaned


def test_the_filter_rewrites_access_log_records():
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '"GET /cb?code=%s&state=%s" 302',
        ("c0de", "st4te"),
        None,
    )
    RedactingFilter().filter(record)
    assert "c0de" not in record.getMessage() and "st4te" not in record.getMessage()


def test_json_lines_carry_the_request_and_never_a_name(app, flow, sandbox):
    """A whole login and sync logged as JSON: every line parses, the request lines carry the id
    the response returned, and no seeded person's name appears anywhere."""
    import io
    import json

    from sync_helpers import SEED

    from clever.logs import make_handler

    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        page = flow.portal_launch("ana")
        dashboard = flow.client.get("/dashboard")
    finally:
        root.removeHandler(handler)
    assert page.status == 200 and dashboard.status_code == 200
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "clever.access"]
    request_id = dashboard.headers["X-Request-ID"]
    (dashboard_line,) = [line for line in access if line["request_id"] == request_id]
    assert dashboard_line["route"] == "dashboard.dashboard" and dashboard_line["status"] == 200
    assert isinstance(dashboard_line["user_id"], int) and dashboard_line["duration_ms"] >= 0
    (sync_line,) = [line for line in lines if "sync_run_id" in line]
    assert sync_line["logger"] == "clever.sync" and isinstance(sync_line["sync_run_id"], int)
    text = stream.getvalue()
    names = {
        part
        for user in SEED.users.values()
        for part in (user["name"].get("first"), user["name"].get("last"))
        if part and len(part) > 3
    }
    assert names and not [name for name in names if name in text]


def test_a_request_id_from_an_untrusted_client_is_replaced(app, client):
    forged = client.get("/healthz", headers={"X-Request-ID": "forged-id"})
    assert forged.headers["X-Request-ID"] not in {"", "forged-id"}
    app.config["TRUSTED_PROXY_COUNT"] = 1
    trusted = client.get("/healthz", headers={"X-Request-ID": "proxy-id-42"})
    assert trusted.headers["X-Request-ID"] == "proxy-id-42"
    hostile = client.get("/healthz", headers={"X-Request-ID": "bad id; INJECTED=1"})
    assert hostile.headers["X-Request-ID"] != "bad id; INJECTED=1"


def test_error_pages_show_the_request_id_beside_the_reference(client):
    page = client.get("/no-such-page")
    text = page.get_data(as_text=True)
    assert page.headers["X-Request-ID"] in text and 'data-testid="error-reference"' in text
