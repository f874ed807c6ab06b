"""Logging: one format, and redaction of codes, states and tokens everywhere."""

from __future__ import annotations

import logging

from flask import Flask

from clever.security import install_log_redaction


def init_logging(app: Flask) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    logging.getLogger("clever").setLevel(logging.INFO)
    install_log_redaction()
