"""Which token reads a user's roster: Clever's two worlds.

- A **Library login** (``/me`` says ``authorized_by: "teacher"``): the user's own token reads the
  teacher's shared sections and their students. User tokens cannot page, so every list is read
  whole, without ``limit`` (``next`` links are still followed if Clever sends any).
- A **district login** (``authorized_by: "district"``, which always takes precedence over a
  Library connection): the user's token reaches only ``/me``, ``/userinfo``, ``/users/{own id}``
  and ``/districts/{own id}``. The roster is read with the **district-app token** of the user's
  district, listed by ``GET /oauth/tokens?owner_type=district`` with the app's client
  credentials, cached encrypted in Redis and listed again when it answers 401 or is missing. It
  pages with a large ``limit``.
- A district login whose district shares no rosters (SSO only: no token is listed for it): no
  roster is read; the sync says so and the dashboard tells the teacher whom to ask.

Sources: dev.clever.com "OAuth Implementation", "Build a Teacher-Facing Roster App", "Library
SSO + Classroom Rostering", "Clever Library - SSO Authorization", "Pagination and Response
Limits" (see shared reference.md sections 2.5, 4.8, 5.3 and 5.7).
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal

from flask import current_app

from clever import oauth, tokens
from clever.api import CleverAPI, CleverAPIError
from clever.sync.read import make_api

World = Literal["library", "district"]
LIBRARY: World = "library"
DISTRICT: World = "district"


@dataclass(frozen=True)
class ReadPlan:
    """How one read of a roster goes.

    ``roster`` reads sections, members, the user's record and (district world) schools, terms
    and courses; None when the district shares no rosters. ``identity`` is the user's own token,
    which a district login uses for its own district only (when there is no roster token).
    """

    world: World
    roster: CleverAPI | None
    identity: CleverAPI | None = None
    district_id: str | None = None

    @property
    def district(self) -> bool:
        return self.world == DISTRICT


@dataclass
class RosterAccess:
    """The tokens one sync may use, resolved lazily (the token list is read only if needed)."""

    world: World
    user_api: CleverAPI | None
    district_id: str | None = None
    # The login's own read of the token list, sent beside /me when none was cached.
    token_list: Future | None = None
    apis: list[CleverAPI] = field(default_factory=list)
    _roster_api: CleverAPI | None = None
    _resolved: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def library(cls, user_api: CleverAPI, *, token_list: Future | None = None) -> RosterAccess:
        return cls(LIBRARY, user_api, token_list=token_list, apis=[user_api])

    @classmethod
    def district(
        cls,
        district_id: str | None,
        user_api: CleverAPI | None,
        *,
        token_list: Future | None = None,
    ) -> RosterAccess:
        return cls(
            DISTRICT,
            user_api,
            district_id,
            token_list,
            apis=[user_api] if user_api else [],
        )

    @property
    def calls(self) -> int:
        """Data API requests sent with every token this access used."""
        return sum(api.calls for api in self.apis)

    def early_roster_api(self) -> CleverAPI | None:
        """The client that reads the roster, if it can be had without a request of its own:
        Library, the user's; district, the cached district-app token, else the answer of the
        token list the login sent beside /me (waited for: it is due about now). None when not
        known yet (the sync lists the tokens itself) or when the district shares no rosters."""
        if self.world == LIBRARY:
            return self.user_api
        if self.district_id is None:
            return None
        with self._lock:
            if self._roster_api is None and not self._resolved:
                token = tokens.cached_district_token(self.district_id)
                if token is None and self.token_list is not None:
                    try:
                        token = self._listed_token()
                    except CleverAPIError:
                        return None  # the sync lists them again, and records a failure
                    self._resolved = True  # answered, even if with no token
                self._roster_api = self._use(token) if token else None
            return self._roster_api

    def early_plan(self) -> ReadPlan | None:
        """The read plan, if its roster client can be had without waiting (see
        ``early_roster_api``); the sync's own ``plan`` later keeps the token list's answer."""
        roster = self.early_roster_api()
        if roster is None:
            return None
        return ReadPlan(self.world, roster, self.user_api, self.district_id)

    def plan(self) -> ReadPlan:
        """The read plan; in the district world this may read the token list (CleverAPIError)."""
        if self.world == LIBRARY:
            self._keep_token_list()
            return ReadPlan(LIBRARY, self.user_api, self.user_api)
        with self._lock:
            if not self._resolved:
                self._resolve_district()
                self._resolved = True
            return ReadPlan(DISTRICT, self._roster_api, self.user_api, self.district_id)

    def refresh(self) -> ReadPlan | None:
        """After the district-app token answered 401: list the tokens again. None when the list
        still gives the same token (a retry would not help)."""
        if self.world != DISTRICT or self.district_id is None:
            return None
        with self._lock:
            old = self._roster_api
            tokens.forget_district_token(self.district_id)
            token = self._listed_token(fresh=True)
            if old is not None and token is not None and old.token_matches(token):
                return None
            self._roster_api = self._use(token) if token else None
            return ReadPlan(DISTRICT, self._roster_api, self.user_api, self.district_id)

    # -- internals ------------------------------------------------------------------------------

    def _keep_token_list(self) -> None:
        """A Library login sent the token list too (it could not know its world yet): cache
        the answer if it is in, so later district logins need not ask; never wait for it."""
        future = self.token_list
        if future is None or not future.done():
            return
        self.token_list = None
        with contextlib.suppress(CleverAPIError):  # a later district login lists them again
            tokens.cache_district_tokens(future.result())

    def _resolve_district(self) -> None:
        if self.token_list is not None and self._roster_api is not None:
            # Sent beside /me before we knew a token was cached: keep its answer all the same.
            future, self.token_list = self.token_list, None
            # On failure: the cached token is what this read uses anyway.
            with contextlib.suppress(CleverAPIError):
                tokens.cache_district_tokens(future.result())
        if self.district_id is None and self.user_api is not None:
            # A manual sync of a login whose district we never learnt: ask /me (in scope).
            district = self.user_api.me().get("district")
            self.district_id = district if isinstance(district, str) and district else None
        if self.district_id is None:
            return
        if self._roster_api is None:
            token = tokens.cached_district_token(self.district_id) or self._listed_token()
            self._roster_api = self._use(token) if token else None

    def _listed_token(self, *, fresh: bool = False) -> str | None:
        """This district's token from the token list (the login's prefetch unless ``fresh``)."""
        future, self.token_list = self.token_list, None
        if future is not None and not fresh:
            listed = future.result()
        else:
            listed = oauth.fetch_district_tokens(oauth.ClientCredentials.from_app())
        tokens.cache_district_tokens(listed)
        return listed.get(self.district_id or "")

    def _use(self, token: str) -> CleverAPI:
        # The roster's reads share the login's deadline, if the user's client has one.
        deadline = self.user_api.deadline if self.user_api is not None else None
        api = make_api(token, page_size=current_app.config["CLEVER_PAGE_SIZE"], deadline=deadline)
        self.apis.append(api)
        return api


def access_for(
    authorized_by: str | None,
    user_token: str | None,
    *,
    district_id: str | None = None,
    token_list: Future | None = None,
) -> RosterAccess | None:
    """The access of a login (``authorized_by`` from ``/me``) or of a stored account.

    None when nothing can read the roster: a Library login without a live user token.
    """
    user_api = make_api(user_token) if user_token else None
    if authorized_by == "district":
        if district_id is None and user_api is None:
            return None
        return RosterAccess.district(district_id, user_api, token_list=token_list)
    if user_api is None:
        return None
    return RosterAccess.library(user_api)
