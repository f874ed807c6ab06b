"""Run the sandbox: `python -m clever.sandbox --port 5001 [--host 127.0.0.1] [--mode test]`.

The app client comes from the same variables the app reads (CLEVER_CLIENT_ID,
CLEVER_CLIENT_SECRET, CLEVER_REDIRECT_URI, comma-separated, first = primary), defaulting to the
demo client; the mode comes from APP_ENV unless --mode is given.
"""

from __future__ import annotations

import argparse
import os
import sys
from urllib.parse import urlsplit

from werkzeug.serving import run_simple

from clever.config import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REDIRECT_URI,
    DEMO_SANDBOX_URL,
    split_uris,
)

from .app import create_sandbox_app
from .core import MODES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clever.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=urlsplit(DEMO_SANDBOX_URL).port or 5001)
    parser.add_argument("--mode", choices=MODES, help="default: from APP_ENV (development)")
    args = parser.parse_args(argv)

    mode = args.mode or os.environ.get("APP_ENV", "development").strip() or "development"
    if mode not in MODES:
        parser.error(f"APP_ENV={mode!r} is not one of {', '.join(MODES)}")
    app = create_sandbox_app(
        client_id=os.environ.get("CLEVER_CLIENT_ID") or DEMO_CLIENT_ID,
        client_secret=os.environ.get("CLEVER_CLIENT_SECRET") or DEMO_CLIENT_SECRET,
        redirect_uris=split_uris(os.environ.get("CLEVER_REDIRECT_URI", "")) or (DEMO_REDIRECT_URI,),
        mode=mode,
        secret_key=os.environ.get("SANDBOX_SECRET_KEY") or None,
    )
    sandbox = app.extensions["clever_sandbox"]
    print(
        f"Clever sandbox (simulated Clever for demos and tests) on http://{args.host}:{args.port}"
        f" mode={mode} client_id={sandbox.client_id} primary_redirect_uri="
        f"{sandbox.primary_redirect_uri}",
        file=sys.stderr,
        flush=True,
    )
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False, use_debugger=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
