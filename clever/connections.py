"""Keep-alive connections to Clever, shared by every login and sync of this process.

A login talks to two Clever hosts: clever.com (the code exchange, the district-app token list)
and api.clever.com (everything else, several requests at once). With a new ``requests.Session``
per login, each of those requests opened its own connection, and on Clever each new connection
is a TCP and a TLS handshake, one or two round trips before the request itself leaves. Here one
``HTTPAdapter`` per app (urllib3 connection pools, one per host, safe to share between threads)
is mounted on every session that talks to Clever, so the connections outlive the sessions.

The sessions themselves stay one per use: their cookies, and Authlib's token state, are never
shared between two people's requests.
"""

from __future__ import annotations

from typing import Any, TypeVar

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter

EXTENSION = "clever_connections"

AnySession = TypeVar("AnySession", bound=requests.Session)


class Connections:
    """The app's connection pools to Clever, and the environment's settings per origin."""

    def __init__(self, kept_per_host: int) -> None:
        self.adapter = HTTPAdapter(pool_maxsize=kept_per_host)
        self._environment: dict[str, dict[str, Any]] = {}

    def attach(self, session: AnySession, origin: str) -> AnySession:
        """``session`` (new, for requests to ``origin``) on the shared connections."""
        session.mount("https://", self.adapter)
        session.mount("http://", self.adapter)
        # requests reads the proxy and CA variables (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE)
        # at every request, about 0.15 ms each: read them once per origin instead.
        settings = self._environment.get(origin)
        if settings is None:
            settings = session.merge_environment_settings(origin, {}, None, None, None)
            self._environment[origin] = settings
        session.trust_env = False
        session.proxies.update(settings["proxies"])
        session.verify = settings["verify"]
        return session


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Connections(app.config["CLEVER_KEPT_CONNECTIONS"])


def session_for(origin: str, session: AnySession | None = None) -> AnySession | requests.Session:
    """``session`` (a new ``requests.Session`` if None; e.g. Authlib's OAuth2Session) for
    requests to ``origin``, a Clever base URL, on this app's kept connections."""
    connections: Connections = current_app.extensions[EXTENSION]
    return connections.attach(session if session is not None else requests.Session(), origin)
