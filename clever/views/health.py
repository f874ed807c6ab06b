"""GET /healthz: can we reach the database and Redis?"""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from clever.sessions import get_redis
from models import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks = {
        "database": check(lambda: db.session.execute(text("SELECT 1"))),
        "redis": check(lambda: get_redis().ping()),
    }
    healthy = all(value == "ok" for value in checks.values())
    return {"status": "ok" if healthy else "unavailable", **checks}, 200 if healthy else 503


def check(probe) -> str:
    try:
        probe()
        return "ok"
    except Exception:  # noqa: BLE001 - any failure means "not healthy"; details stay in logs
        return "unavailable"
