"""Clever Data API v3.0 client: timeouts, retries, 429 waits, a client-side rate limit and
links-based paging.

One `CleverAPI` instance per bearer token. Clever's limit (1200 requests per minute) is per
token, so the instance owns the limiter, and it is safe to share between threads (the
requests Session it uses pools connections per host and is routinely shared this way).

Errors are always `CleverAPIError`. Its message names the kind, the HTTP status and the URL
path, never the token, the query string or anything from the response body, so it can be
logged and shown in a sync history as is.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit

import requests
from requests.auth import AuthBase

from clever import metrics
from clever.config import TUNABLES

log = logging.getLogger("clever.api")

# Clever documents 500/502/503 as "back off and retry"; 504 is the same from a proxy. Other 5xx
# (501 "unsupported request") will not get better on retry.
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# 429 waits count as retries, but a busy token deserves a few more of them than a failing server.
EXTRA_RATE_LIMIT_RETRIES = 2
# X-RateLimit-Reset has whole-second resolution and our clock may run behind Clever's: aim a
# little past it so the retry lands in the new window instead of earning another 429.
RESET_MARGIN = 0.5
RATE_WINDOW = 60.0
MAX_PAGES = 1000
MAX_LIMIT = 10_000  # Clever's largest page; above it answers 413
PAGING_PARAMS = frozenset({"limit", "starting_after", "ending_before"})
_STATUS_KINDS = {401: "unauthorized", 403: "forbidden", 404: "not_found"}
SECTION_ROLES = frozenset({"student", "teacher"})


class CleverAPIError(Exception):
    """A Clever API call failed; the message is safe to log.

    `kind` is one of: timeout, connection, server_error, rate_limited (retries are spent),
    unauthorized (401), forbidden (403), not_found (404), client_error (other 4xx) and
    bad_response (not JSON, wrong shape, a redirect, a link to another host, a paging loop).
    """

    def __init__(self, kind: str, status: int | None, path: str, detail: str = "") -> None:
        self.kind = kind
        self.status = status
        self.path = path
        # `detail` is always a fixed text written in this module, never response content.
        self.detail = detail
        message = f"Clever API {kind}"
        if status is not None:
            message += f" (HTTP {status})"
        message += f" on {path}"
        if detail:
            message += f": {detail}"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.kind, self.status, self.path, self.detail))


class _BearerAuth(AuthBase):
    """Sets the bearer header. Passing auth also stops requests from reading ~/.netrc, which
    would replace our Authorization header with Basic credentials."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def __repr__(self) -> str:
        return "<_BearerAuth ***>"


class _RateLimiter:
    """At most `limit` requests in any `window` seconds, shared by all threads.

    A slot is taken when a request is sent and is held until `window` seconds after its
    response. Counting from the response rather than the send means that, whatever the
    latency, the server never sees more than `limit` arrivals within `window` seconds.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._finished: list[float] = []  # completion times still inside the window
        self._in_flight = 0
        self._paused_until = 0.0

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                cutoff = now - self._window
                self._finished = [t for t in self._finished if t > cutoff]
                if now < self._paused_until:
                    wait = self._paused_until - now
                elif len(self._finished) + self._in_flight < self._limit:
                    self._in_flight += 1
                    return
                elif self._finished:
                    wait = min(self._finished) - cutoff
                else:
                    # Every slot is held by a request still in flight: check back shortly.
                    wait = 0.05
            # Sleep outside the lock so other threads can release their slots meanwhile.
            self._sleep(max(wait, 0.001))

    def release(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._finished.append(self._clock())

    def pause_until(self, when: float) -> None:
        """After a 429 the whole token is throttled, so every thread waits, not only one."""
        with self._lock:
            self._paused_until = max(self._paused_until, when)


class CleverAPI:
    """Client for one bearer token against `base_url` (e.g. https://api.clever.com)."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        timeout: tuple[float, float] = TUNABLES["CLEVER_HTTP_TIMEOUT"],
        max_retries: int = TUNABLES["CLEVER_MAX_RETRIES"],
        backoff: float = TUNABLES["CLEVER_RETRY_BACKOFF"],
        max_backoff: float = TUNABLES["CLEVER_MAX_BACKOFF"],
        requests_per_minute: int = TUNABLES["CLEVER_REQUESTS_PER_MINUTE"],
        max_rate_limit_wait: float = TUNABLES["CLEVER_MAX_RATE_LIMIT_WAIT"],
        session: requests.Session | None = None,
        deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        page_size: int | None = None,
    ) -> None:
        base = urlsplit(base_url.rstrip("/"))
        # An origin only: Clever's links are absolute paths ("/v3.0/..."), so a base path
        # would make it ambiguous where they point.
        if base.scheme not in ("http", "https") or not base.netloc or base.path or base.query:
            raise ValueError("base_url must be an http(s) origin such as https://api.clever.com")
        # http.client echoes a bad header value in its exception, so refuse the token up front
        # with a message that does not contain it.
        if not access_token or not all("\x21" <= ch <= "\x7e" for ch in access_token):
            raise ValueError("access_token is empty or contains characters not allowed in a header")
        if requests_per_minute < 1:
            raise ValueError("requests_per_minute must be at least 1")
        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        if page_size is not None and not 1 <= page_size <= MAX_LIMIT:
            raise ValueError(f"page_size must be between 1 and {MAX_LIMIT}")
        # Only a district-app token may page: Clever refuses `limit` and the cursors to user
        # tokens ("Pagination and Response Limits"), so a user token's client has None.
        self.page_size = page_size
        self.base_url = base.geturl()
        self._base = base
        self._auth = _BearerAuth(access_token)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_rate_limit_wait = max_rate_limit_wait
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        # A time (by ``clock``) past which no request starts and no wait ends: a login must
        # finish before the server's worker timeout, whatever Clever does.
        self.deadline = deadline
        self._limiter = _RateLimiter(requests_per_minute, RATE_WINDOW, clock, sleep)
        self._calls = 0
        self._calls_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<CleverAPI {self.base_url}>"

    def token_matches(self, token: str) -> bool:
        """Whether this client sends ``token`` (without exposing the token itself)."""
        return hmac.compare_digest(self._auth.token.encode(), token.encode())

    @property
    def calls(self) -> int:
        """HTTP requests actually sent, retries included."""
        with self._calls_lock:
            return self._calls

    # -- generic calls ---------------------------------------------------------------------

    def get(self, path_or_uri: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET one JSON object, retrying transient failures; raise CleverAPIError otherwise."""
        url = self._resolve(path_or_uri)
        path = urlsplit(url).path
        retries = 0
        while True:
            error: CleverAPIError | None = None
            cause: Exception | None = None
            try:
                response = self._send(url, params, path)
            except requests.exceptions.SSLError as exc:
                # A certificate problem will not fix itself on retry. (SSLError is a
                # ConnectionError, so it must be caught first.)
                raise CleverAPIError("connection", None, path, "TLS error") from exc
            except requests.exceptions.Timeout as exc:
                # Before ConnectionError: ConnectTimeout is both.
                error, cause = CleverAPIError("timeout", None, path), exc
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                error, cause = CleverAPIError("connection", None, path), exc
            except requests.exceptions.RequestException as exc:
                # Invalid URL, proxy misconfiguration and the like: a retry would not help.
                raise CleverAPIError("connection", None, path, type(exc).__name__) from exc

            if error is not None:
                if retries >= self.max_retries:
                    raise error from cause
                retries += 1
                self._retry_sleep(retries, path, error.kind)
                continue

            status = response.status_code
            if status in RETRY_STATUSES:
                if retries >= self.max_retries:
                    raise CleverAPIError("server_error", status, path)
                retries += 1
                self._retry_sleep(retries, path, str(status))
                continue
            if status == 429:
                if retries >= self.max_retries + EXTRA_RATE_LIMIT_RETRIES:
                    raise CleverAPIError(
                        "rate_limited", status, path, "still limited after retries"
                    )
                retries += 1
                self._wait_for_rate_limit(response, retries, path)
                continue
            return self._decode(response, path)

    def get_all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every object of a list endpoint: the inner "data" of each element, all pages.

        Follows `links` rel=next verbatim until there is none (never builds `starting_after`
        itself). `params` go on the first request only; the next links carry their own query.
        A client with a `page_size` (a district-app token) adds `limit` to the first request;
        one without (a user token) never sends a paging parameter of its own.
        """
        params = dict(params or {})
        if PAGING_PARAMS & set(params) and self.page_size is None:
            raise ValueError("paging parameters need a district-app token (page_size)")
        if self.page_size is not None:
            params.setdefault("limit", self.page_size)
        params = params or None
        url = self._resolve(path)
        seen = {_page_key(requests.Request("GET", url, params=params).prepare().url or url)}
        results: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page_path = urlsplit(url).path
            document = self.get(url, params)
            items, next_uri = _parse_page(document, page_path)
            results.extend(items)
            if next_uri is None:
                return results
            url = self._resolve(next_uri)
            key = _page_key(url)
            if key in seen:
                raise CleverAPIError("bad_response", None, page_path, "pagination loop")
            seen.add(key)
            params = None
        raise CleverAPIError("bad_response", None, urlsplit(url).path, f"over {MAX_PAGES} pages")

    # -- endpoints -------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """The token owner: id, type, authorized_by and (not for Library users) district."""
        return _object_data(self.get("/v3.0/me"), "/v3.0/me")

    def user(self, user_id: str) -> dict[str, Any]:
        path = f"/v3.0/users/{_segment(user_id)}"
        data = _object_data(self.get(path), path)
        if not isinstance(data.get("roles"), dict):
            raise CleverAPIError("bad_response", None, path, "data.roles missing")
        if not isinstance(data.get("name"), dict):
            raise CleverAPIError("bad_response", None, path, "data.name missing")
        return data

    def user_sections(self, user_id: str) -> list[dict[str, Any]]:
        return self.get_all(f"/v3.0/users/{_segment(user_id)}/sections")

    def my_students(self, user_id: str) -> list[dict[str, Any]]:
        """Every student of a teacher's sections, in one list."""
        return self.get_all(f"/v3.0/users/{_segment(user_id)}/mystudents")

    def my_teachers(self, user_id: str) -> list[dict[str, Any]]:
        """Every teacher of a student's sections, in one list."""
        return self.get_all(f"/v3.0/users/{_segment(user_id)}/myteachers")

    def section_users(self, section_id: str, role: str | None = None) -> list[dict[str, Any]]:
        """A section's users; without ``role``, students and teachers in one list."""
        if role is not None and role not in SECTION_ROLES:
            raise ValueError("role must be 'student' or 'teacher'")
        params = {"role": role} if role else None
        return self.get_all(f"/v3.0/sections/{_segment(section_id)}/users", params)

    def term(self, term_id: str) -> dict[str, Any]:
        path = f"/v3.0/terms/{_segment(term_id)}"
        return _object_data(self.get(path), path)

    def course(self, course_id: str) -> dict[str, Any]:
        path = f"/v3.0/courses/{_segment(course_id)}"
        return _object_data(self.get(path), path)

    def school(self, school_id: str) -> dict[str, Any]:
        path = f"/v3.0/schools/{_segment(school_id)}"
        return _object_data(self.get(path), path)

    def district(self, district_id: str) -> dict[str, Any]:
        path = f"/v3.0/districts/{_segment(district_id)}"
        return _object_data(self.get(path), path)

    # -- internals -------------------------------------------------------------------------

    def _resolve(self, path_or_uri: str) -> str:
        """Turn a path or a Clever link into a URL on our base host, and nowhere else.

        The bearer token goes with every request, so a link pointing at another host (or a
        scheme-relative `//host/...`) is treated as a bad response, never followed.
        """
        if (
            not isinstance(path_or_uri, str)
            or not path_or_uri
            or any(ch.isspace() or ord(ch) < 32 for ch in path_or_uri)
        ):
            raise CleverAPIError("bad_response", None, "?", "malformed link")
        parts = urlsplit(path_or_uri)
        if parts.scheme or parts.netloc:
            if (parts.scheme, parts.netloc) != (self._base.scheme, self._base.netloc):
                raise CleverAPIError(
                    "bad_response", None, parts.path or "/", "link to another host"
                )
        elif not parts.path.startswith("/"):
            raise CleverAPIError("bad_response", None, parts.path or "?", "relative link")
        return SplitResult(
            self._base.scheme, self._base.netloc, parts.path, parts.query, ""
        ).geturl()

    def _send(self, url: str, params: dict[str, Any] | None, path: str) -> requests.Response:
        """Send one request through the rate limiter; log method, path, status and time only."""
        self._limiter.acquire()
        with self._calls_lock:
            self._calls += 1
        started = time.monotonic()
        outcome = "error"
        try:
            response = self._session.get(
                url,
                params=params,
                headers={"Accept": "application/json"},
                auth=self._auth,
                timeout=self._timeout_within_deadline(path),
                allow_redirects=False,
            )
            outcome = str(response.status_code)
            return response
        except requests.exceptions.RequestException as exc:
            outcome = type(exc).__name__
            raise
        finally:
            self._limiter.release()
            elapsed = time.monotonic() - started
            log.debug("GET %s -> %s in %.3fs", path, outcome, elapsed)
            metrics.observe_clever_request(path, outcome, elapsed)

    def _timeout_within_deadline(self, path: str) -> tuple[float, float]:
        if self.deadline is None:
            return self.timeout
        left = self.deadline - self._clock()
        if left <= 0:
            raise CleverAPIError("timeout", None, path, "deadline passed")
        connect, read = self.timeout
        return (min(connect, left), min(read, left))

    def _check_wait(self, until: float, path: str) -> None:
        """A wait that would end past the deadline fails now instead of after it."""
        if self.deadline is not None and until >= self.deadline:
            raise CleverAPIError("timeout", None, path, "deadline passed")

    def _backoff_delay(self, retry: int) -> float:
        # Exponential with "equal jitter": at least half the step, so retries stay spaced out,
        # plus a random half, so threads and processes do not retry in lockstep.
        step = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        return step / 2 + random.uniform(0, step / 2)

    def _retry_sleep(self, retry: int, path: str, reason: str) -> None:
        delay = self._backoff_delay(retry)
        self._check_wait(self._clock() + delay, path)
        log.warning(
            "Clever API GET %s failed (%s); retry %d of %d in %.2fs",
            path,
            reason,
            retry,
            self.max_retries,
            delay,
        )
        self._sleep(delay)

    def _wait_for_rate_limit(self, response: requests.Response, retry: int, path: str) -> None:
        """Pause this token until Clever's window resets (or back off if it did not say when)."""
        now = self._clock()
        reset = _parse_seconds(response.headers.get("X-RateLimit-Reset"))
        retry_after = _parse_seconds(response.headers.get("Retry-After"))
        if reset is not None and reset > now:
            wait = reset - now
            until = reset + RESET_MARGIN
        elif retry_after is not None and retry_after > 0:
            wait = retry_after
            until = now + retry_after
        else:
            wait = self._backoff_delay(retry)
            until = now + wait
        if wait > self.max_rate_limit_wait:
            raise CleverAPIError("rate_limited", 429, path, "reset too far away")
        self._check_wait(until, path)
        log.warning("Clever API GET %s rate limited (429); waiting %.1fs", path, until - now)
        self._limiter.pause_until(until)

    def _decode(self, response: requests.Response, path: str) -> dict[str, Any]:
        """Map a final response to its JSON object or to a CleverAPIError."""
        status = response.status_code
        if status in _STATUS_KINDS:
            raise CleverAPIError(_STATUS_KINDS[status], status, path)
        if 400 <= status < 500:
            raise CleverAPIError("client_error", status, path)
        if status >= 500:
            raise CleverAPIError("server_error", status, path)
        if not 200 <= status < 300:
            # Redirects are never followed: the token must not travel anywhere else.
            raise CleverAPIError("bad_response", status, path, "unexpected status")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            # Clever answers some errors (e.g. the wrong kind of token) with HTML pages.
            raise CleverAPIError("bad_response", status, path, "not JSON")
        try:
            document = json.loads(response.content)
        except (ValueError, RecursionError):
            raise CleverAPIError("bad_response", status, path, "invalid JSON") from None
        if not isinstance(document, dict):
            raise CleverAPIError("bad_response", status, path, "not a JSON object")
        return document


def _is_id(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _segment(object_id: str) -> str:
    """One URL path segment; an id can never add path segments or a query."""
    if not isinstance(object_id, str) or object_id in ("", ".", ".."):
        raise ValueError("invalid Clever id")
    return quote(object_id, safe="")


def _object_data(document: dict[str, Any], path: str) -> dict[str, Any]:
    """The "data" object of a single-object response, which must carry an id."""
    data = document.get("data")
    if not isinstance(data, dict) or not _is_id(data.get("id")):
        raise CleverAPIError("bad_response", None, path, "data.id missing")
    return data


def _parse_page(document: dict[str, Any], path: str) -> tuple[list[dict[str, Any]], str | None]:
    """The objects of one list page and its `next` link, if any."""
    elements = document.get("data")
    if not isinstance(elements, list):
        raise CleverAPIError("bad_response", None, path, "data is not a list")
    items = []
    for element in elements:
        inner = element.get("data") if isinstance(element, dict) else None
        if not isinstance(inner, dict) or not _is_id(inner.get("id")):
            raise CleverAPIError("bad_response", None, path, "list element without data.id")
        items.append(inner)
    links = document.get("links", [])
    if not isinstance(links, list):
        raise CleverAPIError("bad_response", None, path, "links is not a list")
    for link in links:
        if isinstance(link, dict) and link.get("rel") == "next":
            uri = link.get("uri")
            if not isinstance(uri, str) or not uri:
                raise CleverAPIError("bad_response", None, path, "next link without uri")
            return items, uri
    return items, None


def _page_key(url: str) -> tuple[str, tuple[str, ...]]:
    """Compare page URLs regardless of query parameter order."""
    parts = urlsplit(url)
    return parts.path, tuple(sorted(parts.query.split("&")))


def _parse_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None
