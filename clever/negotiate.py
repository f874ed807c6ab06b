"""What a request wants back: JSON or an HTML page. One rule, used by every view and refusal."""

from __future__ import annotations

from flask import request

# Endpoints that only ever answer JSON (the sync panel's progress polling): a refusal there is
# JSON too, whatever the Accept header says, never an HTML page behind a redirect.
JSON_ENDPOINTS = frozenset({"sync.status"})
# The sync routes are driven by the page's script. Called without a login (a session that
# expired in Redis, a script on its own), they answer 401 JSON rather than the login page.
SYNC_PATH = "/sync"


def wants_json() -> bool:
    """JSON for callers that prefer it (the page's fetch calls send Accept: application/json)
    and for JSON-only endpoints; an HTML page or a redirect for everyone else."""
    return request.accept_mimetypes.best == "application/json" or (
        request.endpoint in JSON_ENDPOINTS
    )


def wants_json_refusal() -> bool:
    """Whether "log in first" to a caller without a session is JSON: ``wants_json``, or any
    sync route (see SYNC_PATH). A session that ends while in use follows ``wants_json``."""
    path = request.path
    return wants_json() or path == SYNC_PATH or path.startswith(SYNC_PATH + "/")
