"""Everything the sandbox remembers between requests, in memory, behind one lock.

Codes, tokens, rate-limit windows, the fault switchboard, the request log, the clock offset and
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

from .roster import Roster

CODE_TTL_SECONDS = 60
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
    user_id: str
    authorized_by: str  # "district" or "teacher" (Library)
    issued_at: float

    @property
    def library(self) -> bool:
        return self.authorized_by != "district"


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
            self.codes: dict[str, CodeGrant] = {}
            self.tokens: dict[str, TokenGrant] = {}
            self.rate_windows: dict[str, list[float]] = {}  # token -> [window start, count]
            self.faults: list[Fault] = []
            self.log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
            self.roster = Roster()

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
        """Single use: the code is gone after this call, whether or not it was still valid."""
        with self.lock:
            grant = self.codes.pop(code, None)
            if grant is None or grant.expires_at <= self.now():
                return None
            return grant

    def issue_token(self, user_id: str, authorized_by: str) -> str:
        token = secrets.token_hex(20)
        with self.lock:
            self.tokens[token] = TokenGrant(user_id, authorized_by, self.now())
        return token

    def token(self, token: str) -> TokenGrant | None:
        with self.lock:
            return self.tokens.get(token)

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
