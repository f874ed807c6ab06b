"""Run the sandbox over real HTTP inside a test process, and drive its control API.

    with SandboxServer() as sandbox:
        sandbox.add_fault(path="/v3.0/sections/*/users", status=500, times=1)
        requests.get(sandbox.url + "/v3.0/me", headers=...)

Typical use is one server per test session with `reset()` between tests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from clever.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI
from clever.sandbox.app import create_sandbox_app
from clever.sandbox.state import short_hash

__all__ = ["SandboxServer", "short_hash"]


class _QuietHandler(WSGIRequestHandler):
    """No per-request lines on stderr: test output stays readable (and free of query strings)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class SandboxServer:
    def __init__(
        self,
        *,
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str = DEMO_CLIENT_SECRET,
        redirect_uris: Iterable[str] = (DEMO_REDIRECT_URI,),
        mode: str = "test",
        app_name: str = "Roster Room",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.app = create_sandbox_app(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uris=tuple(redirect_uris),
            mode=mode,
            app_name=app_name,
        )
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = tuple(redirect_uris)
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._http = requests.Session()
        self._http_lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def state(self):
        """The in-process SandboxState, for assertions the HTTP API does not cover."""
        return self.app.extensions["clever_sandbox"].state

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox server is not running; call start() first")
        return f"http://{self._host}:{self._server.server_port}"

    @property
    def primary_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def start(self) -> SandboxServer:
        if self._server is not None:
            return self
        self._server = make_server(
            self._host, self._port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="clever-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        self._http.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control API --------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        with self._http_lock:
            response = self._http.request(
                method, f"{self.url}/__sandbox__{path}", timeout=10, **kwargs
            )
        if response.status_code >= 400:
            raise RuntimeError(
                f"sandbox control {method} {path}: {response.status_code} {response.text}"
            )
        return response.json()

    def reset(self) -> None:
        """Faults, log, clock, rate limits, config, roster, codes and tokens back to the seed."""
        self._call("POST", "/reset")

    def add_fault(self, **spec: Any) -> str:
        """See POST /__sandbox__/faults: path, method, status, body, headers, delay, drop,
        html, truncate, at_page, times, rate_storm. Returns the fault id."""
        spec.setdefault("path", "*")
        return self._call("POST", "/faults", json=spec)["id"]

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def requests_log(
        self, kind: str | None = None, path_prefix: str | None = None
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("kind", kind), ("path_prefix", path_prefix)) if v}
        return self._call("GET", "/requests", params=params)

    def clear_log(self) -> None:
        self._call("DELETE", "/requests")

    def count(self, kind: str = "token") -> int:
        """How many requests of a kind the sandbox has seen (by default: token exchanges)."""
        return len(self.requests_log(kind=kind))

    def mutate(self, op: str, **kwargs: Any) -> dict[str, Any]:
        return self._call("POST", "/mutate", json={"op": op, **kwargs})

    def set_clock(self, offset: float) -> None:
        self._call("POST", "/clock", json={"offset": offset})

    def set_rate_limit(self, n: int) -> None:
        self._call("POST", "/config", json={"rate_limit": n})

    def configure(self, **settings: Any) -> dict[str, Any]:
        """rate_limit=int, empty_last_page=bool (a `next` link on every non-empty page)."""
        return self._call("POST", "/config", json=settings)

    def issue_code(
        self,
        persona_or_user_id: str,
        redirect_uri: str | None = None,
        code_challenge: str | None = None,
    ) -> str:
        body: dict[str, Any] = {"user_id": persona_or_user_id}
        if redirect_uri:
            body["redirect_uri"] = redirect_uri
        if code_challenge:
            body["code_challenge"] = code_challenge
        return self._call("POST", "/codes", json=body)["code"]

    def issue_token(self, persona_or_user_id: str) -> str:
        """A user token, authorized as the person's login would be now."""
        return self._call("POST", "/tokens", json={"user_id": persona_or_user_id})["access_token"]

    def district_tokens(self) -> dict[str, str]:
        """GET /oauth/tokens?owner_type=district as the app calls it: district id -> token."""
        with self._http_lock:
            response = self._http.get(
                f"{self.url}/oauth/tokens",
                params={"owner_type": "district"},
                auth=(self.client_id, self.client_secret),
                timeout=10,
            )
        response.raise_for_status()
        return {row["owner"]["id"]: row["access_token"] for row in response.json()["data"]}

    def district_token(self, district_id: str | None = None) -> str:
        """The district-app token of ``district_id`` (by default Maple Grove's)."""
        from clever.sandbox import seed

        return self.district_tokens()[district_id or seed.DISTRICT_ID]

    def connect_district(self, district_id: str | None = None, *, rosters: bool = True) -> dict:
        """Connect a district at district level (by default Lakeview, the Library teacher's)."""
        body: dict[str, Any] = {"rosters": rosters}
        if district_id:
            body["district_id"] = district_id
        return self.mutate("connect_district", **body)

    def disconnect_district(self, district_id: str | None = None) -> dict:
        body = {"district_id": district_id} if district_id else {}
        return self.mutate("disconnect_district", **body)

    def set_user_token_lifetime(self, seconds: float) -> None:
        self.configure(user_token_lifetime=seconds)
