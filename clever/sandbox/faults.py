"""Turning a fault from the switchboard into what the client sees.

A fault can delay a request, answer with a status/body/headers of its choosing, answer with
HTML, cut the real JSON body in half, or close the connection without any response.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time

from flask import Response, g, request

from .state import Fault

HTML_BODY = "<html><body><h1>{status} {reason}</h1><p>Something went wrong.</p></body></html>"


def apply(fault: Fault, now: float) -> Response | None:
    """Do what the fault says. None means "carry on serving the real response"."""
    g.fault_id = fault.id
    if fault.delay:
        time.sleep(fault.delay)  # outside any lock: other requests keep flowing
    if fault.drop:
        g.dropped = True
        return _dropped_connection()
    if fault.truncate:
        g.truncate = True  # the after_request hook cuts the real body
        return None
    if fault.html:
        return _html(fault)
    if fault.status is not None or fault.body is not None:
        return _custom(fault, now)
    return None


def truncate(response: Response) -> None:
    data = response.get_data()
    response.set_data(data[: max(1, len(data) // 2)])


def _reason(status: int) -> str:
    from http import HTTPStatus

    with contextlib.suppress(ValueError):
        return HTTPStatus(status).phrase
    return "Error"


def _html(fault: Fault) -> Response:
    status = fault.status or 200
    body = fault.body if isinstance(fault.body, str) else None
    response = Response(
        body or HTML_BODY.format(status=status, reason=_reason(status)),
        status=status,
        mimetype="text/html",
    )
    response.headers.update(fault.headers)
    return response


def _custom(fault: Fault, now: float) -> Response:
    status = fault.status or 200
    if fault.body is None:
        message = "rate limit exceeded" if status == 429 else _reason(status).lower()
        body = json.dumps({"message": message})
    elif isinstance(fault.body, str):
        body = fault.body  # sent verbatim: lets tests serve deliberately broken JSON
    else:
        body = json.dumps(fault.body)
    response = Response(body, status=status, mimetype="application/json")
    if status == 429:
        response.headers["X-RateLimit-Reset"] = str(int(now) + 1)
    response.headers.update(fault.headers)
    return response


def _dropped_connection() -> Response:
    """A response whose body closes the socket before a single byte is written.

    Werkzeug writes the status line lazily with the first body chunk, and treats a
    ConnectionError from the app as "client went away": so the client sees the connection
    close with no response at all (requests raises ConnectionError).
    """
    sock = request.environ.get("werkzeug.socket")

    def body():
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionAbortedError("sandbox fault: connection dropped")
        yield b""  # pragma: no cover - makes this a generator

    return Response(body(), status=200, mimetype="application/json")
