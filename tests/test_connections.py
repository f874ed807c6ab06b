"""clever/connections.py: the keep-alive connections to Clever that logins share."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from authlib.integrations.requests_client import OAuth2Session

from clever import connections


def requests_sent(app) -> int:
    """Requests sent on the app's kept connections, over every host."""
    pools = app.extensions[connections.EXTENSION].adapter.poolmanager.pools
    # urllib3's container lists its keys, but refuses to be iterated itself.
    return sum(pools[key].num_requests for key in pools.keys())  # noqa: SIM118


def test_every_request_of_a_login_goes_out_on_the_apps_kept_connections(app, flow, sandbox):
    flow.first_login("library")
    flow.client.post("/logout")
    flow.sign_in_to_clever("library")
    callback = flow.fetch(flow.fetch("/auth/clever/login").headers["Location"]).headers["Location"]
    sandbox.clear_log()
    sent = requests_sent(app)

    page = flow.go(callback)

    assert page.url.endswith("/dashboard"), page.url
    # The code exchange, /me, /users/{id}, sections and mystudents.
    log = sandbox.requests_log()
    assert [e["path"] for e in log if e["kind"] == "token"] == ["/oauth/tokens"]
    assert len(log) >= 5
    assert requests_sent(app) - sent == len(log)


class _KeepAliveHandler(BaseHTTPRequestHandler):
    """Answers every GET on a kept-alive connection (HTTP/1.1, with a length), as Clever does,
    and notes the client's port of each request. (The sandbox's server, Werkzeug's, closes
    every connection after one answer.)"""

    protocol_version = "HTTP/1.1"
    ports: list[int] = []

    def do_GET(self):
        self.ports.append(self.client_address[1])
        body = b'{"data": {}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_sessions_made_one_after_another_reuse_one_connection():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    kept, alone = connections.Connections(4), requests.Session
    try:
        for _ in range(3):  # three logins, one after another, each with a session of its own
            kept.attach(requests.Session(), origin).get(origin + "/v3.0/me", timeout=5)
        shared_ports = list(_KeepAliveHandler.ports)
        _KeepAliveHandler.ports.clear()
        for _ in range(3):
            with alone() as session:
                session.get(origin + "/v3.0/me", timeout=5)
        own_ports = list(_KeepAliveHandler.ports)
    finally:
        server.shutdown()
        server.server_close()
    assert len(shared_ports) == 3 and len(set(shared_ports)) == 1
    assert len(set(own_ports)) == 3  # what a session per login costs: a connection each


def test_sessions_are_new_each_time_and_share_only_the_connections(app):
    with app.app_context():
        one = connections.session_for(app.config["CLEVER_API_BASE_URL"])
        other = connections.session_for(app.config["CLEVER_API_BASE_URL"])
        oauth = connections.session_for(app.config["CLEVER_OAUTH_BASE_URL"], OAuth2Session("id"))
    assert len({id(one), id(other), id(oauth)}) == 3
    assert one.cookies is not other.cookies  # nothing of one person's requests rides another's
    adapter = app.extensions[connections.EXTENSION].adapter
    for session in (one, other, oauth):
        assert session.get_adapter("https://api.clever.com/v3.0/me") is adapter
        assert session.get_adapter("http://127.0.0.1:5001/oauth/tokens") is adapter
    assert adapter._pool_maxsize == app.config["CLEVER_KEPT_CONNECTIONS"]


def test_the_environments_proxy_and_ca_settings_still_apply(monkeypatch, tmp_path):
    bundle = tmp_path / "district-ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.district.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    kept = connections.Connections(4)

    api = kept.attach(requests.Session(), "https://api.clever.com")
    sandbox = kept.attach(requests.Session(), "http://127.0.0.1:5001")

    # Read once, per origin: requests no longer looks at the environment at each request.
    assert api.trust_env is False and sandbox.trust_env is False
    assert api.proxies.get("https") == "http://proxy.district.example:3128"
    assert sandbox.proxies == {}
    assert api.verify == sandbox.verify == str(bundle)
