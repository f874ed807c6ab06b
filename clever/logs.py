"""Logging: one line per event (JSON in production, plain text in development), a request id on
every line and every response, and redaction of codes, states and tokens everywhere.

What a line may carry: time, level, logger, message, request id, route, status, duration, the
numeric user id and sync run id. Never names, emails, codes or tokens (see the README).
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from flask import Flask, current_app, g, has_request_context, request, session
from pythonjsonlogger.json import JsonFormatter

# A request id we accept from a trusted proxy: short, and safe in a header and a log line.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
access_log = logging.getLogger("clever.access")


# code=, state=, tokens and Authorization values never reach a log line intact.
SECRET_PATTERNS = [
    (
        re.compile(r"(?i)\b(code|state|access_token|id_token|code_verifier|token)=([^&\s\"']+)"),
        r"\1=[redacted]",
    ),
    (re.compile(r"(?i)(authorization:?\s*(bearer|basic)\s+)[\w\-.~+/=]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(\"access_token\"\s*:\s*\")[^\"]+"), r"\1[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction() -> None:
    """Attach the filter to every handler of the root and access loggers, present and future."""
    redactor = RedactingFilter()
    for name in ("", "werkzeug", "gunicorn.access", "gunicorn.error", "authlib", "urllib3"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(redactor)
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(redactor)


def init_logging(app: Flask) -> None:
    """One handler on the root logger (unless the host, e.g. pytest, brought its own): JSON lines
    when LOG_FORMAT is json (the production default), text otherwise."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(make_handler(app.config["LOG_FORMAT"]))
        root.setLevel(logging.INFO)
    logging.getLogger("clever").setLevel(logging.INFO)
    install_log_redaction()
    app.before_request(start_request)
    app.after_request(finish_request)


def make_handler(log_format: str, stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        fields = {"asctime": "time", "levelname": "level", "name": "logger"}
        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields=fields))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestContextFilter())
    handler.addFilter(RedactingFilter())
    return handler


class RequestContextFilter(logging.Filter):
    """Adds request_id, route and user_id (numeric, from the session: no database read)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id", "-")
            record.route = request.endpoint or "-"
            user_id = session.get("_user_id")
            record.user_id = int(user_id) if str(user_id or "").isdigit() else None
        else:
            record.request_id = getattr(record, "request_id", "-")
        return True


def start_request() -> None:
    g.request_started = time.monotonic()
    g.request_id = incoming_request_id() or secrets.token_hex(8)


def incoming_request_id() -> str | None:
    """The proxy's X-Request-ID, only when a proxy is trusted (else anyone could forge it)."""
    if not current_app.config["TRUSTED_PROXY_COUNT"]:
        return None
    value = request.headers.get("X-Request-ID", "")
    return value if REQUEST_ID.match(value) else None


def finish_request(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    if request.endpoint != "static":
        duration = (time.monotonic() - g.get("request_started", time.monotonic())) * 1000
        access_log.info(
            "%s %s %s",
            request.method,
            request.endpoint or "-",
            response.status_code,
            extra={"status": response.status_code, "duration_ms": round(duration, 1)},
        )
    return response
