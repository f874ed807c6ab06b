"""Roster Room: a Clever Library app. ``create_app`` reads like the table of contents."""

from __future__ import annotations

import sys

from flask import Flask

from clever.config import ConfigError, apply_settings


def create_app(config: dict | None = None) -> Flask:
    from clever import connections, login, metrics, sync
    from clever.commands import init_commands
    from clever.database import init_database
    from clever.errors import init_error_pages
    from clever.extensions import csrf
    from clever.logs import init_logging
    from clever.proxy import init_proxy
    from clever.ratelimit import init_rate_limits
    from clever.security import init_security
    from clever.sessions import init_sessions
    from clever.users import init_login
    from clever.views import register_blueprints

    app = Flask(__name__, instance_relative_config=True)
    try:
        redis_url = apply_settings(app, config or {})
    except ConfigError as error:
        print(f"error: Refusing to start: {error}", file=sys.stderr)
        # Under gunicorn, exit status 4 (its APP_LOAD_ERROR) stops the whole server instead of
        # respawning workers that would refuse again.
        raise SystemExit(4 if "gunicorn" in sys.modules else 2) from None
    init_logging(app)
    init_database(app)
    init_sessions(app, redis_url)
    init_rate_limits(app)
    init_security(app)  # the cross-site check runs before CSRFProtect reads any form
    init_login(app)
    connections.init_app(app)
    login.init_app(app)
    sync.init_app(app)
    csrf.init_app(app)
    register_blueprints(app)
    init_error_pages(app)
    init_commands(app)
    metrics.init_app(app)
    init_proxy(app)
    return app
