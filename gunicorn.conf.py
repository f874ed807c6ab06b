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


def post_worker_init(worker):
    """Once per worker, after it loaded the app and before its first request: load what every
    process loads once, then freeze the heap.

    ``gc.freeze()`` moves every object alive now (the app, the libraries, the collation table:
    about 230,000 objects) out of the cyclic collector's reach. Each full collection used to
    walk all of them, about 100 ms that landed in whichever request was running, on average
    2 ms of every returning login (tests/bench/bench_login_sync.py). None of them is garbage:
    they live as long as the worker.
    """
    import gc

    from clever import roster

    roster.load_collation()
    gc.collect()  # what is already garbage is freed, not frozen
    gc.freeze()
