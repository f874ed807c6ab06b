"""A local Clever emulator (its own Flask app): OAuth, Data API v3.0, Portal, Library, faults.

See docs/architecture.md section 8. `python -m clever.sandbox --port 5001` runs it;
`tests/sandbox_server.py` (SandboxServer) runs it in a background thread for tests.
"""

from .app import create_sandbox_app

__all__ = ["create_sandbox_app"]
