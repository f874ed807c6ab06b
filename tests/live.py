"""Helpers for tests against the app over real HTTP: sign in through the sandbox like a browser,
and send a request whose body arrives later (the slow request of a race)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import requests
from werkzeug.serving import make_server

from clever.config import DEMO_CLIENT_ID
from clever.embedded_redis import free_port


def serve(application) -> Iterator[str]:
    """Serve ``application`` on a free loopback port until the generator is closed."""
    server = make_server("127.0.0.1", free_port(), application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def sign_in(live_url: str, persona: str, browser: requests.Session | None = None):
    """Log ``persona`` in through our button and the sandbox; returns the browser session."""
    browser = browser or requests.Session()
    start = browser.get(f"{live_url}/auth/clever/login", allow_redirects=False, timeout=30)
    authorize = start.headers["Location"] + f"&login_hint={persona}"
    callback = browser.get(authorize, allow_redirects=False, timeout=30).headers["Location"]
    landed = browser.get(callback, allow_redirects=False, timeout=60)
    assert landed.status_code == 302, landed.text[:300]
    return browser


def portal_launch(live_url: str, sandbox_url: str, persona: str, browser: requests.Session):
    """A Clever Portal launch of ``persona`` in ``browser``: a code without state, then ours."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": f"{live_url}/auth/clever/callback",
            "login_hint": persona,
        }
    )
    browser.get(f"{sandbox_url}/oauth/authorize?{query}", allow_redirects=False, timeout=30)
    response = browser.get(f"{sandbox_url}/portal/launch", allow_redirects=False, timeout=30)
    hops = 0
    while response.status_code in (302, 303) and hops < 10:
        location = response.headers["Location"]
        if location.startswith("/"):
            location = (live_url if response.url.startswith(live_url) else sandbox_url) + location
        response = browser.get(location, allow_redirects=False, timeout=60)
        hops += 1
    return response


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]


class SlowRequest:
    """A request that sends its headers now and its body when told: the server opens the session
    at once, and the view then waits for the body."""

    def __init__(self, url: str, path: str, headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(url)
        self.body = body
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        time.sleep(0.15)  # the server reads the headers, loads the session and waits for the body

    def finish(self) -> RawResponse:
        self.sock.sendall(self.body)
        chunks = []
        while chunk := self.sock.recv(65536):
            chunks.append(chunk)
        self.sock.close()
        return parse_response(b"".join(chunks))


def parse_response(raw: bytes) -> RawResponse:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if line]
    return RawResponse(status, headers, body)  # type: ignore[arg-type]
