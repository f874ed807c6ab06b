import logging

from clever.security import RedactingFilter, redact


def test_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_callback_pages_never_leak_the_code_in_a_referer(client):
    response = client.get("/auth/clever/callback")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_authenticated_pages_are_not_cached(flow, client):
    flow.portal_launch("mateo")
    response = client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_logout_clears_site_data(flow, client):
    flow.portal_launch("mateo")
    response = client.post("/logout")
    assert "storage" in response.headers["Clear-Site-Data"]


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
