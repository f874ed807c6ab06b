"""Security headers on every response, and log redaction of OAuth secrets."""

from __future__ import annotations

import logging
import re

from flask import Flask, request
from flask_login import current_user

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self' {oauth}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

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


def init_security_headers(app: Flask) -> None:
    csp = CSP.format(oauth=app.config["CLEVER_OAUTH_BASE_URL"])

    @app.after_request
    def add_headers(response):
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if current_user.is_authenticated or request.path.startswith("/auth/"):
            # Pages with names and rosters must not linger in shared devices' caches.
            response.headers["Cache-Control"] = "no-store"
        if request.path.startswith("/auth/"):
            # The callback URL carries a code; never leak it in a Referer.
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
        if app.config["APP_ENV"] == "production":
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response
