"""gunicorn settings for Roster Room: `.venv/bin/gunicorn -c gunicorn.conf.py 'app:create_app()'`.

Threads, not processes, carry the load: a login spends most of its time waiting on Clever, and a
thread waiting on a socket costs little. Command-line flags still override any of these.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Above the slowest login (a cold roster read with Clever's retries), so gunicorn never kills a
# worker mid-login and answers with its bare "Internal Server Error".
timeout = 60
graceful_timeout = 30
keepalive = 5

accesslog = "-"
# The path without its query string: a callback's `code` and `state` never reach the access log
# (the app's log filter redacts them too; this keeps them out even before it is installed).
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'


def on_starting(server):
    """Refuse an unsafe production configuration once, in the master, before any worker starts.

    Without this every worker refuses on its own, and two workers failing at once make gunicorn
    print a traceback while it halts (HaltServer raised again during stop).
    """
    import sys

    from clever.config import ConfigError, load_settings

    try:
        load_settings()
    except ConfigError as error:
        print(f"error: Refusing to start: {error}", file=sys.stderr)
        sys.exit(4)  # gunicorn's APP_LOAD_ERROR, as app.py exits under gunicorn
