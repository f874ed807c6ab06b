"""Turn stored records into the JSON bodies Clever serves (fixtures.md sections 3-10).

Records are kept in the full district-shared shape. A Library (teacher-authorized) token sees a
reduced view: the teacher's name and email, sections without district, school, course or term,
and students as first name + last initial with only their grade.
"""

from __future__ import annotations

from typing import Any

API = "/v3.0"

# How /userinfo names the role of the current login (multi-role users report one of them).
USER_TYPES = (
    ("teacher", "teacher"),
    ("staff", "staff"),
    ("district_admin", "district admin"),
    ("student", "student"),
    ("contact", "contact"),
)


def link(rel: str, uri: str) -> dict[str, str]:
    return {"rel": rel, "uri": uri}


def single(data: dict[str, Any], links: list[dict[str, str]]) -> dict[str, Any]:
    return {"data": data, "links": links}


# -- users ----------------------------------------------------------------------------------


def user(record: dict[str, Any], library: bool) -> dict[str, Any]:
    if not library:
        return record
    roles = record["roles"]
    if "teacher" in roles:
        data: dict[str, Any] = {"id": record["id"]}
        if record.get("email"):
            data["email"] = record["email"]
        data.update(
            name=dict(record["name"]),
            created=record["created"],
            last_modified=record["last_modified"],
            roles={"teacher": {}},
        )
        return data
    last = record["name"].get("last") or ""
    return {
        "id": record["id"],
        "name": {"first": record["name"].get("first"), "last": last[:1]},
        "roles": {"student": {"grade": (roles.get("student") or {}).get("grade", "")}},
    }


def user_links(record: dict[str, Any], library: bool) -> list[dict[str, str]]:
    base = f"{API}/users/{record['id']}"
    roles = record["roles"]
    links = [link("self", base)]
    if library:
        if "teacher" in roles:
            links.append(link("sections", f"{base}/sections"))
        return links
    links += [link("district", f"{base}/district"), link("schools", f"{base}/schools")]
    if "teacher" in roles or "student" in roles:
        links.append(link("sections", f"{base}/sections"))
    if "teacher" in roles:
        links.append(link("myStudents", f"{base}/mystudents"))
    if "student" in roles:
        links.append(link("myTeachers", f"{base}/myteachers"))
        links.append(link("myContacts", f"{base}/mycontacts"))
    return links


def me(record: dict[str, Any], authorized_by: str) -> dict[str, Any]:
    data: dict[str, Any] = {"id": record["id"]}
    links = [link("self", "/me"), link("canonical", f"{API}/users/{record['id']}")]
    # A Library app is not told the district (reference 4.3, fixtures 3.2 variant).
    if authorized_by == "district":
        data["district"] = record["district"]
        links.append(link("district", f"{API}/districts/{record['district']}"))
    data.update(type="user", authorized_by=authorized_by)
    return {"type": "user", "data": data, "links": links}


def district_me(district_id: str) -> dict[str, Any]:
    """/me for a district-app token: the district itself."""
    return {
        "type": "district",
        "data": {"id": district_id, "type": "district"},
        "links": [link("self", "/me"), link("canonical", f"{API}/districts/{district_id}")],
    }


def userinfo(record: dict[str, Any], authorized_by: str, school_ids: list[str]) -> dict[str, Any]:
    library = authorized_by != "district"
    shown = user(record, library)
    roles = record["roles"]
    role = next((name for name, _ in USER_TYPES if name in roles), "student")
    user_type = dict(USER_TYPES)[role]
    body: dict[str, Any] = {
        "sub": record["id"],
        "user_id": roles[role].get("legacy_id", record["id"]),
        "multi_role_user_id": record["id"],
        "user_type": user_type,
    }
    if not library:
        body["district_id"] = record["district"]
        body["district"] = record["district"]
    if shown.get("email"):
        body["email"] = shown["email"]
    name = shown["name"]
    body.update(
        name={
            "first": name.get("first") or "",
            "last": name.get("last") or "",
            "middle": name.get("middle") or "",
        },
        schools=[] if library else sorted(school_ids),
        given_name=name.get("first") or "",
        family_name=name.get("last") or "",
        email_verified=False,
        authorized_by=authorized_by,
    )
    return body


# -- sections -------------------------------------------------------------------------------

LIBRARY_SECTION_FIELDS = (
    "id", "name", "section_number", "subject", "grade", "teacher", "teachers", "students",
)  # fmt: skip


def section(record: dict[str, Any], library: bool) -> dict[str, Any]:
    if not library:
        return record
    return {key: record[key] for key in LIBRARY_SECTION_FIELDS if key in record}


def section_links(record: dict[str, Any], library: bool) -> list[dict[str, str]]:
    base = f"{API}/sections/{record['id']}"
    if library:
        return [link("self", base), link("users", f"{base}/users")]
    links = [
        link("self", base),
        link("district", f"{base}/district"),
        link("users", f"{base}/users"),
        link("school", f"{base}/school"),
    ]
    if record.get("term_id"):
        links.append(link("term", f"{base}/term"))
    if record.get("course"):
        links.append(link("course", f"{base}/course"))
    return links


# -- schools, districts, terms, courses -----------------------------------------------------


def self_links(kind: str, record: dict[str, Any]) -> list[dict[str, str]]:
    return [link("self", f"{API}/{kind}/{record['id']}")]
