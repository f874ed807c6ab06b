"""Clever Data API v3.0: envelopes, the scopes of each kind of token, paging, rate limit.

Three kinds of bearer token (see README.md, "Scopes", for the sources):
- a district-authorized user token (`/me` says `authorized_by: "district"`): `/me`,
  `/userinfo`, `/v3.0/users/{own id}` and `/v3.0/districts/{own district}`, nothing else;
- a Library user token (`authorized_by: "teacher"`): `/me`, `/userinfo`, its own user and its
  relations; a teacher also the sections they teach or co-teach with all their users (and
  those students' records); a student the sections they attend with only their teachers. No
  district, school, term or course data; students as first name + last initial;
- a district-app token (GET /oauth/tokens?owner_type=district): everything in its district.
Anything else: 404 {"message": "Resource not in token's scopes"}.

User tokens cannot page: every list comes back whole, with only a `self` link, and `limit`,
`starting_after` or `ending_before` answer 400. District-app tokens page by `limit` (default
100, at most 10000) and `starting_after`/`ending_before`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, jsonify, request

from . import faults, render
from .core import api_error, current
from .roster import Roster
from .state import SandboxState, TokenGrant, short_hash

bp = Blueprint("api", __name__)

BAD_TOKEN = "Your OAuth2 token is incorrect or has expired"
OUT_OF_SCOPE = "Resource not in token's scopes"
NOT_FOUND = "Entity Not Found"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
PAGING_PARAMS = ("limit", "starting_after", "ending_before")
USER_TOKEN_PAGING = (
    "Pagination (limit, starting_after, ending_before) is only available with district-app "
    "tokens; user tokens get every list whole"
)


def _state() -> SandboxState:
    return current().state


@bp.before_request
def authenticate():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    grant = _state().token(token) if scheme.lower() == "bearer" and token else None
    if grant is None:
        return api_error(401, BAD_TOKEN)
    g.grant = grant
    g.token_hash = short_hash(token)
    g.token_kind = grant.kind
    g.log_user_id = grant.user_id
    reset_at = _state().hit_rate_limit(token)
    if reset_at is not None:
        # Only X-RateLimit-Reset is confirmed for Clever; clients must not rely on more.
        return api_error(429, "rate limit exceeded", {"X-RateLimit-Reset": str(reset_at)})
    if grant.user_token and any(request.args.get(key) is not None for key in PAGING_PARAMS):
        # "Pagination and Response Limits": user tokens cannot paginate or use `limit`.
        return api_error(400, USER_TOKEN_PAGING)
    if grant.district_user and request.path not in _district_user_paths(grant):
        # "OAuth Implementation": such a token reaches /me, /districts/{id}, /users/{id} only.
        return _missing(True)
    return None


def _district_user_paths(grant: TokenGrant) -> set[str]:
    with _state().lock:
        user = _state().roster.user(grant.user_id or "")
        district = user["district"] if user else ""
    return {
        "/me",
        "/v3.0/me",
        "/userinfo",
        f"/v3.0/users/{grant.user_id}",
        f"/v3.0/districts/{district}",
    }


# -- helpers ------------------------------------------------------------------------------------


def _single(data: dict[str, Any], links: list[dict[str, str]]) -> Response:
    return jsonify(render.single(data, links))


def _missing(exists: bool) -> Response:
    if exists:
        g.out_of_scope = True
    return api_error(404, OUT_OF_SCOPE if exists else NOT_FOUND)


def _in_district(record: dict[str, Any]) -> bool:
    """A district-app token reads its own district's records."""
    return record.get("district") == g.grant.district_id


def _own_user(roster: Roster, user_id: str) -> tuple[dict[str, Any] | None, Response | None]:
    """Relation endpoints under /users/{id}: a user token's own user; a district-app token's
    users of its district."""
    user = roster.user(user_id)
    if g.grant.district_app:
        if user is None:
            return None, _missing(False)
        return (user, None) if _in_district(user) else (None, _missing(True))
    if user_id != g.grant.user_id:
        return None, _missing(user is not None)
    return user, None


def _visible_section(roster: Roster, section_id: str) -> tuple[dict | None, Response | None]:
    section = roster.section(section_id)
    if section is None:
        return None, _missing(False)
    if g.grant.district_app:
        return (section, None) if _in_district(section) else (None, _missing(True))
    uid = g.grant.user_id
    if uid in section["teachers"] or uid in section["students"]:
        return section, None
    return None, _missing(True)


def _district_only() -> Response | None:
    """District, school, term and course data are never shared with a Library app."""
    return _missing(True) if g.grant.library else None


def _visible_school_ids(roster: Roster, user: dict[str, Any]) -> set[str]:
    ids = {school["id"] for school in roster.schools_for(user)}
    ids.update(s["school"] for s in roster.sections_for(user["id"]))
    return ids


# -- paging ---------------------------------------------------------------------------------


def _page_link(rel: str, cursor_key: str, cursor: str) -> dict[str, str]:
    keep = [
        (k, v)
        for k, v in request.args.items(multi=True)
        if k not in ("starting_after", "ending_before")
    ]
    return render.link(rel, f"{request.path}?{urlencode([*keep, (cursor_key, cursor)])}")


def _paginate(records: list[dict[str, Any]], shape: Callable[[dict], dict]) -> Response:
    """Clever's range paging: ascending ids, `limit`, `starting_after`/`ending_before` cursors.

    Runs under the state lock (the caller holds it) and serialises the page right away, so a
    roster mutation on another thread cannot change it halfway. Sets `g.page_number` (1-based)
    for `at_page` faults.
    """
    if g.grant.user_token:
        # User tokens cannot page (the gate refused paging parameters): the whole list, once.
        g.page_number = 1
        ordered = sorted(records, key=lambda r: r["id"])
        query = request.query_string.decode()
        self_link = render.link("self", request.path + (f"?{query}" if query else ""))
        return jsonify(data=[{"data": shape(r)} for r in ordered], links=[self_link])
    raw_limit = request.args.get("limit")
    try:
        limit = DEFAULT_LIMIT if raw_limit in (None, "") else int(raw_limit)
    except ValueError:
        return api_error(400, "limit must be an integer")
    if limit > MAX_LIMIT:
        return api_error(413, f"limit must be at most {MAX_LIMIT}")
    if limit < 1:
        return api_error(400, "limit must be at least 1")
    after = request.args.get("starting_after")
    before = request.args.get("ending_before")
    if after and before:
        return api_error(400, "use starting_after or ending_before, not both")

    records = sorted(records, key=lambda r: r["id"])
    ids = [r["id"] for r in records]
    if after:
        start = bisect.bisect_right(ids, after)
        end = min(start + limit, len(records))
    elif before:
        end = bisect.bisect_left(ids, before)
        start = max(0, end - limit)
    else:
        start, end = 0, min(limit, len(records))
    page = records[start:end]
    g.page_number = start // limit + 1

    query = request.query_string.decode()
    links = [render.link("self", request.path + (f"?{query}" if query else ""))]
    # PAGING: a starting_after page always offers `prev` (even with nothing before it), an
    # ending_before page always offers `next`; both lead to an empty page when exhausted.
    if after:
        links.append(_page_link("prev", "ending_before", page[0]["id"] if page else after))
    elif before and page and (start > 0 or _state().empty_last_page):
        links.append(_page_link("prev", "ending_before", page[0]["id"]))
    more_after = end < len(records)
    if before:
        links.append(_page_link("next", "starting_after", page[-1]["id"] if page else before))
    elif page and (more_after or _state().empty_last_page):
        links.append(_page_link("next", "starting_after", page[-1]["id"]))

    return jsonify(data=[{"data": shape(r)} for r in page], links=links)


def _list(records_fn: Callable[[Roster], Any], shape: Callable[[dict], dict]) -> Response:
    """Build a page under the lock, then let an `at_page` fault replace it (outside the lock)."""
    state = _state()
    with state.lock:
        result = records_fn(state.roster)
        if isinstance(result, Response):
            return result
        response = _paginate(result, shape)
    if response.status_code == 200:
        fault = state.take_fault(request.path, request.method, page=g.page_number)
        if fault is not None:
            return faults.apply(fault, state.now()) or response
    return response


def _user_shape(grant: TokenGrant) -> Callable[[dict], dict]:
    return lambda record: render.user(record, grant.library)


def _section_shape(grant: TokenGrant) -> Callable[[dict], dict]:
    return lambda record: render.section(record, grant.library)


# -- identity -------------------------------------------------------------------------------


@bp.get("/v3.0/me")
@bp.get("/me")
def me():
    grant = g.grant
    if grant.district_app:
        return jsonify(render.district_me(grant.district_id))
    with _state().lock:
        return jsonify(render.me(_state().roster.user(grant.user_id), grant.authorized_by))


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    grant = g.grant
    if grant.district_app:
        return _missing(True)  # a district is not a person
    with _state().lock:
        roster = _state().roster
        user = roster.user(grant.user_id)
        schools = sorted(s["id"] for s in roster.schools_for(user))
        return jsonify(render.userinfo(user, grant.authorized_by, schools))


# -- users ----------------------------------------------------------------------------------


@bp.get("/v3.0/users/<user_id>")
def get_user(user_id: str):
    grant = g.grant
    with _state().lock:
        roster = _state().roster
        user = roster.user(user_id)
        if user is None:
            return _missing(False)
        # A Library teacher may also look up the students they shared.
        allowed = (
            _in_district(user)
            if grant.district_app
            else user_id == grant.user_id
            or (
                grant.library
                and any(s["id"] == user_id for s in roster.students_of_teacher(grant.user_id))
            )
        )
        if not allowed:
            return _missing(True)
        return _single(render.user(user, grant.library), render.user_links(user, grant.library))


@bp.get("/v3.0/users/<user_id>/sections")
def user_sections(user_id: str):
    def records(roster: Roster):
        user, error = _own_user(roster, user_id)
        return error if error else roster.sections_for(user["id"])

    return _list(records, _section_shape(g.grant))


@bp.get("/v3.0/users/<user_id>/mystudents")
def user_students(user_id: str):
    def records(roster: Roster):
        user, error = _own_user(roster, user_id)
        return error if error else roster.students_of_teacher(user["id"])

    return _list(records, _user_shape(g.grant))


@bp.get("/v3.0/users/<user_id>/myteachers")
def user_teachers(user_id: str):
    def records(roster: Roster):
        user, error = _own_user(roster, user_id)
        return error if error else roster.teachers_of_student(user["id"])

    return _list(records, _user_shape(g.grant))


@bp.get("/v3.0/users/<user_id>/mycontacts")
def user_contacts(user_id: str):
    def records(roster: Roster):
        user, error = _own_user(roster, user_id)
        error = error or _district_only()
        return error if error else roster.contacts_of_student(user["id"])

    return _list(records, _user_shape(g.grant))


@bp.get("/v3.0/users/<user_id>/schools")
def user_schools(user_id: str):
    def records(roster: Roster):
        user, error = _own_user(roster, user_id)
        error = error or _district_only()
        return error if error else roster.schools_for(user)

    return _list(records, lambda record: record)


@bp.get("/v3.0/users/<user_id>/district")
def user_district(user_id: str):
    with _state().lock:
        roster = _state().roster
        user, error = _own_user(roster, user_id)
        if error or (error := _district_only()):
            return error
        district = roster.districts[user["district"]]
        return _single(district, render.self_links("districts", district))


# -- sections -------------------------------------------------------------------------------


@bp.get("/v3.0/sections/<section_id>")
def get_section(section_id: str):
    library = g.grant.library
    with _state().lock:
        section, error = _visible_section(_state().roster, section_id)
        if error:
            return error
        return _single(render.section(section, library), render.section_links(section, library))


@bp.get("/v3.0/sections/<section_id>/users")
def section_users(section_id: str):
    role = request.args.get("role") or None
    if role not in (None, "student", "teacher"):
        return api_error(400, "role must be student or teacher")

    def records(roster: Roster):
        section, error = _visible_section(roster, section_id)
        if error:
            return error
        # Students may see who teaches their class, not who else is in it.
        if g.grant.user_token and g.grant.user_id not in section["teachers"] and role != "teacher":
            return _missing(True)
        return roster.section_users(section, role)

    return _list(records, _user_shape(g.grant))


def _section_related(section_id: str, kind: str, key: str):
    with _state().lock:
        roster = _state().roster
        section, error = _visible_section(roster, section_id)
        if error or (error := _district_only()):
            return error
        record = getattr(roster, kind).get(section.get(key) or "")
        if record is None:
            return _missing(False)
        return _single(record, render.self_links(kind, record))


@bp.get("/v3.0/sections/<section_id>/district")
def section_district(section_id: str):
    return _section_related(section_id, "districts", "district")


@bp.get("/v3.0/sections/<section_id>/school")
def section_school(section_id: str):
    return _section_related(section_id, "schools", "school")


@bp.get("/v3.0/sections/<section_id>/term")
def section_term(section_id: str):
    return _section_related(section_id, "terms", "term_id")


@bp.get("/v3.0/sections/<section_id>/course")
def section_course(section_id: str):
    return _section_related(section_id, "courses", "course")


# -- schools, districts, terms, courses ---------------------------------------------------------


def _get_entity(kind: str, entity_id: str, visible: Callable[[Roster, dict], set[str]]):
    with _state().lock:
        roster = _state().roster
        record = getattr(roster, kind).get(entity_id)
        if record is None:
            return _missing(False)
        if error := _district_only():
            return error
        if g.grant.district_app:
            owner = record["id"] if kind == "districts" else record.get("district")
            if owner != g.grant.district_id:
                return _missing(True)
        elif entity_id not in visible(roster, roster.user(g.grant.user_id)):
            return _missing(True)
        return _single(record, render.self_links(kind, record))


def _section_refs(key: str) -> Callable[[Roster, dict], set[str]]:
    return lambda roster, user: {s[key] for s in roster.sections_for(user["id"]) if s.get(key)}


@bp.get("/v3.0/districts/<district_id>")
def get_district(district_id: str):
    return _get_entity("districts", district_id, lambda roster, user: {user["district"]})


@bp.get("/v3.0/schools/<school_id>")
def get_school(school_id: str):
    return _get_entity("schools", school_id, _visible_school_ids)


@bp.get("/v3.0/terms/<term_id>")
def get_term(term_id: str):
    return _get_entity("terms", term_id, _section_refs("term_id"))


@bp.get("/v3.0/courses/<course_id>")
def get_course(course_id: str):
    return _get_entity("courses", course_id, _section_refs("course"))


# -- whole collections (district-app tokens only) ------------------------------------------------


def _collection(kind: str, role: str | None = None):
    def records(roster: Roster):
        if not g.grant.district_app:
            return _missing(True)
        if kind == "sections":
            found = roster.live_sections()
        else:
            found = list(getattr(roster, kind).values())
        found = [r for r in found if (r["id"] if kind == "districts" else r.get("district"))
                 == g.grant.district_id]  # fmt: skip
        if role:
            found = [r for r in found if role in r["roles"]]
        return found

    shape = {"users": _user_shape, "sections": _section_shape}.get(kind)
    return _list(records, shape(g.grant) if shape else lambda record: record)


@bp.get("/v3.0/users")
def list_users():
    role = request.args.get("role") or None
    if role not in (None, "student", "teacher", "staff", "district_admin", "contact"):
        return api_error(400, "unknown role")
    return _collection("users", role)


@bp.get("/v3.0/sections")
def list_sections():
    return _collection("sections")


@bp.get("/v3.0/schools")
def list_schools():
    return _collection("schools")


@bp.get("/v3.0/terms")
def list_terms():
    return _collection("terms")


@bp.get("/v3.0/courses")
def list_courses():
    return _collection("courses")


@bp.get("/v3.0/districts")
def list_districts():
    return _collection("districts")
