"""Clever Data API v3.0 as a user token sees it: envelopes, scoping, paging, rate limit.

Scope rules (a user token, district- or Library-authorized):
- everyone: /me, /userinfo, their own /users/{id} and its relations;
- a teacher: sections they teach or co-teach, with all their users;
- a student: sections they attend, with only the teachers of those sections;
- district-authorized: their own district, their schools, and the terms/courses of their
  sections; Library tokens never see district, school, term or course data, and see
  students as first name + last initial.
Anything else: 404 {"message": "Resource not in token's scopes"}.
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
    g.log_user_id = grant.user_id
    reset_at = _state().hit_rate_limit(token)
    if reset_at is not None:
        # Only X-RateLimit-Reset is confirmed for Clever; clients must not rely on more.
        return api_error(429, "rate limit exceeded", {"X-RateLimit-Reset": str(reset_at)})
    return None


# -- helpers ------------------------------------------------------------------------------------


def _single(data: dict[str, Any], links: list[dict[str, str]]) -> Response:
    return jsonify(render.single(data, links))


def _missing(exists: bool) -> Response:
    return api_error(404, OUT_OF_SCOPE if exists else NOT_FOUND)


def _own_user(roster: Roster, user_id: str) -> tuple[dict[str, Any] | None, Response | None]:
    """Relation endpoints under /users/{id} are open only for the token's own user."""
    if user_id != g.grant.user_id:
        return None, _missing(roster.user(user_id) is not None)
    return roster.user(user_id), None


def _visible_section(roster: Roster, section_id: str) -> tuple[dict | None, Response | None]:
    section = roster.section(section_id)
    if section is None:
        return None, _missing(False)
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
    with _state().lock:
        return jsonify(render.me(_state().roster.user(grant.user_id), grant.authorized_by))


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    grant = g.grant
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
        allowed = user_id == grant.user_id or (
            grant.library
            and any(s["id"] == user_id for s in roster.students_of_teacher(grant.user_id))
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
        if g.grant.user_id not in section["teachers"] and role != "teacher":
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
        if entity_id not in visible(roster, roster.user(g.grant.user_id)):
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
