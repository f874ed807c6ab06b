"""Everything the sandbox remembers between requests, in memory, behind one lock.

Codes, tokens (user tokens and district-app tokens), which districts have connected the app at
district level, rate-limit windows, the fault switchboard, the request log, the clock offset and
the live roster. The sandbox serves requests on several threads, so every read and write of
this state happens under `SandboxState.lock`; slow work (fault delays) happens outside it.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from . import seed
from .roster import Roster

CODE_TTL_SECONDS = 60
# User access tokens: Clever does not document their lifetime; its example app says about two
# hours (reference.md 2.4), so the sandbox expires them then unless configured otherwise.
DEFAULT_USER_TOKEN_LIFETIME = 2 * 3600
# How long a redeemed code is remembered, so that a replay can revoke its token.
REDEEMED_CODE_MEMORY = 3600
DEFAULT_RATE_LIMIT = 1200  # requests per minute per bearer token (Clever's published figure)
RATE_WINDOW_SECONDS = 60
LOG_LIMIT = 50_000  # keeps a long-running demo from growing without bound


def short_hash(value: str) -> str:
    """What the request log records instead of a code or token: never the value itself."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CodeGrant:
    user_id: str
    client_id: str
    redirect_uri: str
    authorized_by: str
    expires_at: float
    code_challenge: str | None = None


@dataclass(frozen=True)
class TokenGrant:
    """What a bearer token is: a user's (from the OAuth flow) or a district's (the district-app
    token, listed by GET /oauth/tokens?owner_type=district)."""

    user_id: str | None  # None for a district-app token
    authorized_by: str  # "district" or "teacher" (Library); "district" for a district-app token
    issued_at: float
    district_id: str | None = None  # the owner of a district-app token

    @property
    def district_app(self) -> bool:
        return self.user_id is None

    @property
    def user_token(self) -> bool:
        return self.user_id is not None

    @property
    def library(self) -> bool:
        """A Library (teacher-authorized) user token: reduced shapes, no district data."""
        return self.user_token and self.authorized_by != "district"

    @property
    def district_user(self) -> bool:
        """A district-authorized user token: /me, /userinfo, its own user and district only."""
        return self.user_token and self.authorized_by == "district"

    @property
    def kind(self) -> str:
        if self.district_app:
            return "district_app"
        return "library_user" if self.library else "district_user"


REVOKED = "-"  # a redeemed code whose token was revoked by a replay


FAULT_FIELDS = {
    "path": str,
    "method": str,
    "status": int,
    "body": object,
    "headers": dict,
    "delay": (int, float),
    "drop": bool,
    "html": bool,
    "truncate": bool,
    "at_page": int,
    "times": int,
    "rate_storm": int,
}


@dataclass
class Fault:
    """One entry on the fault switchboard (see POST /__sandbox__/faults)."""

    id: str
    path: str = "*"
    method: str | None = None
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    html: bool = False
    truncate: bool = False
    at_page: int | None = None
    times: int | None = None  # how many more times it fires; None = forever
    rate_storm: int | None = None
    fired: int = 0

    @classmethod
    def from_json(cls, fault_id: str, spec: dict[str, Any]) -> Fault:
        unknown = set(spec) - set(FAULT_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        for key, kind in FAULT_FIELDS.items():
            value = spec.get(key)
            if value is None:
                continue
            # bool is an int in Python; don't let `"status": true` through.
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise ValueError(f"fault field {key!r} has the wrong type")
        if not spec.get("path"):
            raise ValueError("a fault needs a path glob (use '*' for every path)")
        status = spec.get("status")
        if status is not None and not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        delay = float(spec.get("delay") or 0)
        if not 0 <= delay <= 300:
            raise ValueError("delay must be between 0 and 300 seconds")
        for key in ("at_page", "times", "rate_storm"):
            if spec.get(key) is not None and spec[key] < 1:
                raise ValueError(f"{key} must be 1 or more")
        fault = cls(id=fault_id, **{k: v for k, v in spec.items() if v is not None})
        fault.delay = delay
        fault.headers = {str(k): str(v) for k, v in fault.headers.items()}
        if fault.method:
            fault.method = fault.method.upper()
        if fault.rate_storm:
            # A storm is a run of 429s: it replaces any status/times the caller gave.
            fault.status, fault.times = 429, fault.rate_storm
        return fault

    def matches(self, path: str, method: str, page: int | None) -> bool:
        if self.method and self.method != method:
            return False
        if (self.at_page is None) != (page is None) or (page is not None and page != self.at_page):
            return False
        return self.path == "*" or fnmatchcase(path, self.path)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False, {}, 0.0)} | {
            "fired": self.fired
        }


class SandboxState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self.reset()

    # -- reset and clock ----------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.clock_offset = 0.0
            self.rate_limit = DEFAULT_RATE_LIMIT
            self.empty_last_page = False
            self.user_token_lifetime = DEFAULT_USER_TOKEN_LIFETIME
            self.codes: dict[str, CodeGrant] = {}
            # sha256 of a redeemed code -> (the token issued for it, "" before it is issued, or
            # REVOKED; when to forget it). Insertion ordered, so the oldest are pruned first.
            self.redeemed: dict[str, tuple[str, float]] = {}
            self.tokens: dict[str, TokenGrant] = {}
            # District id -> its district-app token, or "" for a district that connected the
            # app for SSO only (no rosters shared). Districts not here are not connected.
            self.connections: dict[str, str] = {}
            self.rate_windows: dict[str, list[float]] = {}  # token -> [window start, count]
            self.faults: list[Fault] = []
            self.log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
            self.roster = Roster()
            for district_id, rosters in seed.DEFAULT_CONNECTIONS.items():
                self.connect_district(district_id, rosters=rosters)

    def now(self) -> float:
        """The sandbox's notion of now; tests shift it to expire codes and rate windows."""
        return time.time() + self.clock_offset

    def now_stamp(self) -> str:
        moment = datetime.fromtimestamp(self.now(), tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    # -- codes and tokens ---------------------------------------------------------------------

    def issue_code(
        self,
        user_id: str,
        client_id: str,
        redirect_uri: str,
        authorized_by: str,
        code_challenge: str | None = None,
    ) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = CodeGrant(
                user_id=user_id,
                client_id=client_id,
                redirect_uri=redirect_uri,
                authorized_by=authorized_by,
                expires_at=self.now() + CODE_TTL_SECONDS,
                code_challenge=code_challenge,
            )
        return code

    def redeem_code(self, code: str) -> CodeGrant | None:
        """Single use: the code is gone after this call, whether or not it was still valid.

        A code presented again after it was redeemed revokes the token issued for it
        (RFC 6749 section 4.1.2: the authorization server "SHOULD revoke (when possible) all
        tokens previously issued based on that authorization code").
        """
        key = short_hash(code)
        with self.lock:
            now = self.now()
            grant = self.codes.pop(code, None)
            if grant is None:
                previous = self.redeemed.get(key)
                if previous is not None:
                    token, _ = previous
                    if token and token != REVOKED:
                        self.tokens.pop(token, None)
                    self.redeemed[key] = (REVOKED, now + REDEEMED_CODE_MEMORY)
                return None
            self._forget_old_codes(now)
            self.redeemed[key] = ("", now + REDEEMED_CODE_MEMORY)
            if grant.expires_at <= now:
                return None
            return grant

    def _forget_old_codes(self, now: float) -> None:
        while self.redeemed:
            key, (_, forget_at) = next(iter(self.redeemed.items()))
            if forget_at > now:
                return
            del self.redeemed[key]

    def issue_token(self, user_id: str, authorized_by: str, code: str | None = None) -> str:
        """A user token; with ``code``, bound to it (a replay of the code revokes the token)."""
        token = secrets.token_hex(20)
        with self.lock:
            now = self.now()
            if code is not None:
                key = short_hash(code)
                previous = self.redeemed.get(key)
                if previous is not None and previous[0] == REVOKED:
                    return token  # replayed while we were exchanging it: born revoked
                self.redeemed[key] = (token, now + REDEEMED_CODE_MEMORY)
            self.tokens[token] = TokenGrant(user_id, authorized_by, now)
        return token

    def token(self, token: str) -> TokenGrant | None:
        """The grant of a live token; None when unknown, revoked or (a user token) expired."""
        with self.lock:
            grant = self.tokens.get(token)
            if (
                grant is not None
                and grant.user_token
                and self.now() >= grant.issued_at + self.user_token_lifetime
            ):
                return None
            return grant

    # -- district-level connections -----------------------------------------------------------

    def connect_district(self, district_id: str, *, rosters: bool = True) -> str | None:
        """The district connects the app at district level: its logins become District SSO.

        With ``rosters`` it also shares its rosters: a district-app token is issued (a new one
        each time it reconnects). Without, the app gets SSO only and no token.
        """
        with self.lock:
            self.disconnect_district(district_id)
            token = secrets.token_hex(20) if rosters else ""
            if token:
                self.tokens[token] = TokenGrant(None, "district", self.now(), district_id)
            self.connections[district_id] = token
            return token or None

    def disconnect_district(self, district_id: str) -> None:
        """The district disconnects the app: its district-app token stops working."""
        with self.lock:
            token = self.connections.pop(district_id, None)
            if token:
                self.tokens.pop(token, None)

    def district_tokens(self) -> list[tuple[str, str, float]]:
        """(district id, token, created) of every district that shares rosters."""
        with self.lock:
            return [
                (district_id, token, self.tokens[token].issued_at)
                for district_id, token in self.connections.items()
                if token and token in self.tokens
            ]

    def authorized_by(self, user_id: str) -> str:
        """How a login of this user is authorized now (see seed.authorized_by)."""
        with self.lock:
            return seed.authorized_by(user_id, self.connections)

    def hit_rate_limit(self, token: str) -> int | None:
        """Count one request; return the window's reset time (epoch s) if over the limit."""
        with self.lock:
            now = self.now()
            window = self.rate_windows.get(token)
            if window is None or now >= window[0] + RATE_WINDOW_SECONDS:
                window = self.rate_windows[token] = [now, 0]
            window[1] += 1
            if window[1] > self.rate_limit:
                return math.ceil(window[0] + RATE_WINDOW_SECONDS)
            return None

    # -- faults -------------------------------------------------------------------------------

    def add_fault(self, spec: dict[str, Any]) -> Fault:
        with self.lock:
            fault = Fault.from_json(f"f{next(self._ids)}", spec)
            self.faults.append(fault)
            return fault

    def take_fault(self, path: str, method: str, page: int | None = None) -> Fault | None:
        """The first fault that matches this request, counted as fired (None if none does)."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(path, method, page):
                    fault.fired += 1
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
            return None

    # -- request log --------------------------------------------------------------------------

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            entry["seq"] = next(self._ids)
            self.log.append(entry)

    def log_entries(self, kind: str | None = None, path_prefix: str | None = None) -> list[dict]:
        with self.lock:
            return [
                dict(e)
                for e in self.log
                if (kind is None or e["kind"] == kind)
                and (path_prefix is None or e["path"].startswith(path_prefix))
            ]
