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
