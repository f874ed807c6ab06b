"""Behind reverse proxies: believe exactly ``TRUSTED_PROXY_COUNT`` of them.

TLS ends at the proxy, so without this the app sees the proxy's address as every client's
(one rate limit for a whole deployment) and http as the scheme. With the count set, Werkzeug's
ProxyFix takes the client address, scheme and host from the last that many X-Forwarded-For,
-Proto and -Host entries, the ones our own proxies appended. With 0 (the default) the headers
are ignored: a client cannot pick its own address to dodge a limit.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_proxy(app: Flask) -> None:
    count = app.config["TRUSTED_PROXY_COUNT"]
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]
