"""Security headers on every response, and the cross-site check on every unsafe request (log
redaction is in ``clever.logs``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, request, session
from werkzeug.exceptions import Forbidden, RequestEntityTooLarge

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self' {oauth}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class CrossSiteRequest(Forbidden):
    description = "This request came from another website."


def init_security(app: Flask) -> None:
    init_security_headers(app)
    app.before_request(refuse_oversized)
    app.before_request(refuse_cross_site)


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


def request_site() -> str:
    """Where the browser says this request comes from: "same-origin", "cross-site" or
    "unknown" (no Fetch Metadata and no Origin: not a browser, or a very old one)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        # "none": the user typed or bookmarked it; "same-site" is a sibling origin, not us.
        return "same-origin" if site in {"same-origin", "none"} else "cross-site"
    origin = request.headers.get("Origin")
    if origin is None:
        return "unknown"
    # "null" (a sandboxed frame, a privacy redirect) cannot be shown to be us.
    return "same-origin" if urlsplit(origin).netloc == request.host else "cross-site"


def refuse_oversized() -> None:
    """Flask checks MAX_CONTENT_LENGTH only when a view reads the body; refuse up front, so no
    page (a redirect to the login page, say) answers as if a 10 MB upload were fine."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()


def refuse_cross_site() -> None:
    """A second layer behind the CSRF tokens: browsers label cross-site requests, so an unsafe
    method from another site is refused before any form is read."""
    if request.method not in SAFE_METHODS and request_site() == "cross-site":
        raise CrossSiteRequest()
