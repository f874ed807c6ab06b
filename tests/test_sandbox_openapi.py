"""Every JSON body the sandbox serves validates against Clever's v3.0 Swagger definitions.

Walks every seeded user (as themselves, and their rosters as the app reads them: Library users
with their own token, district users with their district's district-app token), every section,
every school, the district, terms and courses, and the error bodies, over real HTTP. Validation
is strict: no property the spec does not define.
"""

from __future__ import annotations

from pathlib import Path

import openapi_check as openapi
import pytest
import requests
import yaml
from sandbox_server import SandboxServer

from clever.sandbox import seed

SHARED_SPEC = Path("/work/shared/clever/openapi-v3.0.yml")
DISTRICT_TOKENS: set[str] = set()


@pytest.fixture(scope="module")
def server():
    with SandboxServer() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def tokens(server):
    """One user token per seeded user, minted through the control API."""
    server.reset()
    return {uid: server.issue_token(uid) for uid in seed.user_ids()}


@pytest.fixture(scope="module")
def readers(server, tokens):
    """The token that reads each user's roster: the district-app token of a district user's
    district, a Library user's own token."""
    district = server.district_token()
    DISTRICT_TOKENS.add(district)
    return {
        uid: tokens[uid] if seed.authorized_by(uid) == "teacher" else district
        for uid in seed.user_ids()
    }


def get(http, server, token, path, **params):
    response = http.get(
        server.url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return response


def assert_valid(definition, response, status=200):
    assert response.status_code == status, (response.request.url, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    problems = openapi.errors(definition, body)
    assert not problems, (response.request.url, problems[:5])
    return body


def follow_pages(http, server, token, path, definition, **params):
    """Every page of a listing, each validated; returns all elements' data."""
    items = []
    body = assert_valid(definition, get(http, server, token, path, **params))
    if token not in DISTRICT_TOKENS:
        assert [link["rel"] for link in body["links"]] == ["self"]  # user tokens: whole lists
    while True:
        items += [element["data"] for element in body["data"]]
        nxt = [link["uri"] for link in body["links"] if link["rel"] == "next"]
        if not nxt or not body["data"]:
            return items
        body = assert_valid(definition, get(http, server, token, nxt[0]))


def test_the_vendored_spec_is_clevers_published_file():
    if not SHARED_SPEC.exists():
        pytest.skip("the shared reference copy is not on this machine")
    assert openapi.load_spec() == yaml.safe_load(SHARED_SPEC.read_text(encoding="utf-8"))


def test_the_validator_is_not_vacuous():
    user = seed.seeded_user(seed.MATEO_ID)
    assert openapi.errors("User", user) == []
    user["roles"]["student"]["grade"] = "4th"
    assert openapi.errors("User", user)
    assert openapi.errors("User", {**seed.seeded_user(seed.ANA_ID), "created": "yesterday"})
    assert openapi.errors("User", {**seed.seeded_user(seed.ANA_ID), "emial": "x@y"})
    assert openapi.errors("SectionsResponse", {"data": [], "links": [{"rel": "first"}]})
    # x-nullable fields accept null; others do not.
    assert openapi.errors("Section", {"period": None, "course": None}) == []
    assert openapi.errors("Section", {"name": None})


def test_every_user_as_themselves(http, server, tokens, readers):
    for user_id in seed.user_ids():
        token = tokens[user_id]
        body = assert_valid("UserResponse", get(http, server, token, f"/v3.0/users/{user_id}"))
        assert body["data"]["id"] == user_id
        me = assert_valid("MeResponse", get(http, server, token, "/v3.0/me"))
        assert me["data"]["id"] == user_id
        assert_valid("UserInfo", get(http, server, token, "/userinfo"))
        sections = follow_pages(
            http, server, readers[user_id], f"/v3.0/users/{user_id}/sections", "SectionsResponse"
        )
        assert sorted(s["id"] for s in sections) == seed.section_ids_for(user_id)


def test_relations_of_every_persona(http, server, tokens, readers):
    for persona in seed.PERSONAS.values():
        token, uid = readers[persona.user_id], persona.user_id
        roles = seed.seeded_user(uid)["roles"]
        if "teacher" in roles:
            follow_pages(http, server, token, f"/v3.0/users/{uid}/mystudents", "UsersResponse")
        if "student" in roles:
            follow_pages(http, server, token, f"/v3.0/users/{uid}/myteachers", "UsersResponse")
        if persona.is_library:
            continue  # no district, school or contact data for Library apps (checked elsewhere)
        if "student" in roles:
            follow_pages(http, server, token, f"/v3.0/users/{uid}/mycontacts", "UsersResponse")
        follow_pages(http, server, token, f"/v3.0/users/{uid}/schools", "SchoolsResponse")
        assert_valid("DistrictResponse", get(http, server, token, f"/v3.0/users/{uid}/district"))
        own = tokens[uid]  # a district login's own token reaches its district
        assert_valid(
            "DistrictResponse", get(http, server, own, f"/v3.0/districts/{seed.DISTRICT_ID}")
        )


def test_every_section_and_its_users(http, server, readers):
    for section_id in seed.section_ids():
        teacher = seed.teacher_ids_of(section_id)[0]
        token = readers[teacher]
        library = seed.authorized_by(teacher) == "teacher"
        body = assert_valid(
            "SectionResponse", get(http, server, token, f"/v3.0/sections/{section_id}")
        )
        assert ("district" in body["data"]) is not library
        path = f"/v3.0/sections/{section_id}/users"
        students = follow_pages(http, server, token, path, "UsersResponse", role="student")
        assert sorted(u["id"] for u in students) == seed.student_ids_in(section_id)
        teachers = follow_pages(http, server, token, path, "UsersResponse", role="teacher")
        assert sorted(u["id"] for u in teachers) == sorted(seed.teacher_ids_of(section_id))
        paging = {} if library else {"limit": 40}
        everyone = follow_pages(http, server, token, path, "UsersResponse", **paging)
        assert len(everyone) == len(students) + len(teachers)
        if library:
            continue
        related = {"school": "SchoolResponse", "district": "DistrictResponse"}
        section = seed.seeded_section(section_id)
        if section["term_id"]:
            related["term"] = "TermResponse"
        if section["course"]:
            related["course"] = "CourseResponse"
        for kind, definition in related.items():
            assert_valid(definition, get(http, server, token, f"{path[:-6]}/{kind}"))


def test_schools_district_terms_courses(http, server, readers):
    token = readers[seed.ANA_ID]
    for school_id in seed.SCHOOL_IDS:  # Ana teaches at Cedar and co-teaches at Birch
        assert_valid("SchoolResponse", get(http, server, token, f"/v3.0/schools/{school_id}"))
    assert_valid(
        "DistrictResponse", get(http, server, token, f"/v3.0/districts/{seed.DISTRICT_ID}")
    )
    assert_valid("TermResponse", get(http, server, token, f"/v3.0/terms/{seed.TERM_ID}"))
    course = seed.seeded_section(seed.BIG_SECTION_ID)["course"]
    assert_valid("CourseResponse", get(http, server, token, f"/v3.0/courses/{course}"))


def test_error_bodies(http, server, tokens, readers):
    # This copy of the spec defines BadRequest/NotFound/InternalError, all {"message": string}.
    token = tokens[seed.MATEO_ID]
    assert_valid("BadRequest", get(http, server, "not-a-token", "/v3.0/me"), 401)
    not_mine = f"/v3.0/sections/{seed.LIBRARY_SECTION_IDS[0]}"
    assert_valid("NotFound", get(http, server, token, not_mine), 404)
    assert_valid("NotFound", get(http, server, token, "/v3.0/sections/" + "0" * 24), 404)
    assert_valid("NotFound", get(http, server, token, f"/v3.0/users/{seed.MATEO_ID}/sections"), 404)
    assert_valid(
        "BadRequest", get(http, server, token, f"/v3.0/users/{seed.MATEO_ID}", limit=5), 400
    )
    assert_valid(
        "BadRequest",
        get(http, server, readers[seed.MATEO_ID], f"/v3.0/users/{seed.MATEO_ID}/sections",
            limit=10001),
        413,
    )  # fmt: skip


def test_token_endpoint_bodies(http, server):
    code = server.issue_code("ana")
    good = {"code": code, "grant_type": "authorization_code"}
    good["redirect_uri"] = server.primary_redirect_uri
    auth = (server.client_id, server.client_secret)
    assert_valid("TokenResponse", http.post(server.url + "/oauth/tokens", json=good, auth=auth))
    assert_valid("OAuthError", http.post(server.url + "/oauth/tokens", json=good, auth=auth), 400)
    assert_valid("OAuthError", http.post(server.url + "/oauth/tokens", json=good), 401)
