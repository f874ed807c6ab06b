"""Logging: one format, and redaction of codes, states and tokens everywhere."""

from __future__ import annotations

import logging
import re

from flask import Flask

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
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    logging.getLogger("clever").setLevel(logging.INFO)
    install_log_redaction()
