"""Security headers on every response (log redaction is in ``clever.logs``)."""

from __future__ import annotations

from flask import Flask, request, session

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self' {oauth}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def init_security_headers(app: Flask) -> None:
    csp = CSP.format(oauth=app.config["CLEVER_OAUTH_BASE_URL"])

    @app.after_request
    def add_headers(response):
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # A page opened from here (or one that opened us) gets no handle on this window.
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        # The session's user id, not current_user: this runs on error pages too, and must not
        # need the database (which may be the thing that is down).
        if "_user_id" in session or request.path.startswith("/auth/"):
            # Pages with names and rosters must not linger in shared devices' caches.
            response.headers["Cache-Control"] = "no-store"
        if request.path.startswith("/auth/"):
            # The callback URL carries a code; never leak it in a Referer.
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
        if app.config["APP_ENV"] == "production":
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response
