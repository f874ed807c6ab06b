"""The login after Clever's code is exchanged: who it is (``/me``, ``/users/{id}``), the account
(provisioned on the Clever id), the session, the token at rest, and the roster sync.

Which token reads the roster depends on the world the login is in (``clever.sync.access``): a
Library login reads it with its own token; a district login with its district's district-app
token. Requests that do not depend on each other go out together on a small thread pool that
belongs to this service, one per app: the district-app token list beside ``/me`` (only when
none is cached), the roster's first wave (sections and the bulk list of students or teachers,
see ``clever.sync.read``) beside ``/users/{id}``; the reader sends its next waves from its own
threads while this request provisions the account, the session and the token.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from clever import accounts, oauth, sync, tokens
from clever.api import CleverAPI, CleverAPIError
from clever.errors import LoginFailure
from clever.sessions import switch_person
from clever.tokens import store_token
from models import User

# Clever API failures during the login, as the friendly error page names them.
API_FAILURES = {
    "timeout": "clever_unavailable",
    "connection": "clever_unavailable",
    "server_error": "clever_unavailable",
    "rate_limited": "clever_unavailable",
    "bad_response": "clever_bad_response",
}
EXTENSION = "login_prefetch"


@dataclass(frozen=True)
class LoginResult:
    """Where the person goes next, and how the login's sync went (None: not a Clever account)."""

    next_url: str
    sync: sync.SyncOutcome | None


@dataclass(frozen=True)
class Identity:
    """What the login learnt from Clever before the account exists."""

    me: dict[str, Any]
    clever_user: dict[str, Any]
    access: sync.RosterAccess
    reader: sync.RosterReader | None  # the roster's read, already on its way
    account: User | None  # the account of this Clever id, if the reader's start read it


def init_app(app: Flask) -> None:
    """The pool for the login's prefetch: at most a few are ever in flight per process."""
    app.extensions[EXTENSION] = ThreadPoolExecutor(
        max_workers=app.config["LOGIN_PREFETCH_WORKERS"], thread_name_prefix="login-prefetch"
    )


def complete_login(grant: oauth.CleverGrant, deadline: float | None = None) -> LoginResult:
    """Finish a login whose code was exchanged; raise LoginFailure for the error page.

    ``deadline`` (``time.time()``): the callback's, which the code exchange shared."""
    # Every Clever read of this login, the sync's included, ends by the deadline: past it the
    # login fails kindly (or, in the sync, keeps the last roster) before gunicorn kills it.
    if deadline is None:
        deadline = time.time() + current_app.config["LOGIN_DEADLINE_SECONDS"]
    identity = read_identity(sync.make_api(grant.access_token, deadline=deadline))
    # Meanwhile the roster's next wave is already on its way (started by the reader itself).
    try:
        user, created = accounts.provision_from_clever(
            identity.me, identity.clever_user, identity.account
        )
        switch_person(user)
        oauth.mark_code_done(grant, user.id)
        store_token(user.id, grant.access_token)
    except BaseException as error:
        if identity.reader is not None:
            identity.reader.abandon()  # its threads end with their requests
        if isinstance(error, accounts.NoUsableRole):
            raise LoginFailure("no_usable_role", "clever user has no usable role") from None
        raise
    outcome = sync.sync_user(
        user,
        identity.access,
        "login",
        clever_user=identity.clever_user,
        reader=identity.reader,
    )
    return LoginResult(accounts.next_url_after_login(user, created), outcome)


def read_identity(user_api: CleverAPI) -> Identity:
    """``/me`` then ``/users/{id}`` with the user's token (both in scope in either world), and
    the roster's first requests beside them.

    A district login's token may not list sections: its roster is read with the district-app
    token, whose list goes out beside ``/me`` when none is cached (a first login). Either way
    the roster's read (``clever.sync.RosterReader``) starts beside ``/users/{id}``, with the
    district-app token (district login) or the user's own (Library login).
    """
    pool: ThreadPoolExecutor = current_app.extensions[EXTENSION]
    token_list = None
    if not tokens.district_tokens_listed():
        credentials = oauth.ClientCredentials.from_app()
        token_list = pool.submit(oauth.fetch_district_tokens, credentials, user_api.deadline)
    reader = account = None
    try:
        me = user_api.me()
        if me.get("authorized_by") == "district":
            district = me.get("district")
            access = sync.RosterAccess.district(
                district if isinstance(district, str) and district else None,
                user_api,
                token_list=token_list,
            )
        else:
            # Sent before the world was known: its answer is cached for later logins.
            access = sync.RosterAccess.library(user_api, token_list=token_list)
        calls_before = access.calls  # the sync's count starts with /users/{id}
        own_record = pool.submit(user_api.user, me["id"])
        # Beside /users/{id}: a district login's token list came back with /me, if it was sent.
        reader, account = _start_roster_read(access, me["id"], own_record, calls_before)
        clever_user = own_record.result()
    except CleverAPIError as error:
        if reader is not None:
            reader.abandon()
        raise LoginFailure(API_FAILURES.get(error.kind, "clever_rejected"), error.kind) from None
    return Identity(me, clever_user, access, reader, account)


def _start_roster_read(
    access: sync.RosterAccess, clever_id: str, own_record: Future, calls_before: int
) -> tuple[sync.RosterReader | None, User | None]:
    """The roster's read, started now if its token is known: the sections at once, then what
    the account says, which the reader goes on with: what this person was last time (a
    teacher's bulk list is ``mystudents``, a student's ``myteachers``; unknown: after the
    record), the classes they chose not to sync and the organisations read today. Returns
    the reader and the account it read (None: no account yet, or no early read)."""
    plan = access.early_plan()
    if plan is None:
        return None, None  # the sync lists the district-app tokens itself
    reader = sync.RosterReader(
        plan,
        clever_id,
        teacher=None,
        profile=own_record,
        concurrency=current_app.config["SYNC_CONCURRENCY"],
        calls_before=calls_before,
        known=False,
    )
    # The sections leave before we read the account: the next wave waits on their answer,
    # and on nothing the account says.
    reader.start()
    try:
        known = accounts.find_by_clever_id(clever_id)
        teacher = known.is_teacher if known is not None else None
        reader.know(teacher=teacher, **sync.reader_inputs(known, plan))
    except BaseException:
        reader.abandon()  # its threads end with their requests
        raise
    return reader, known
