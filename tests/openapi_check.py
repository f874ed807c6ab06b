"""Validate JSON bodies against Clever's published v3.0 Swagger `definitions` (test helper).

Swagger 2.0 schemas are JSON Schema draft 4 plus an `x-nullable` extension, so: load the
whole document into a `referencing` registry, turn `x-nullable` into "or null", and check the
custom `datetime`/`date` formats. `strict=True` additionally forbids properties the spec does
not define (catches typos and leaked fields; Clever lists no `required` fields at all).

/me and /userinfo are not in the Swagger file; their schemas below follow fixtures.md 3 and 4.
Test-only: it needs the dev extras (jsonschema, pyyaml), which the sandbox never imports.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_PATH = Path(__file__).parent.parent / "clever" / "sandbox" / "spec" / "clever-v3.0.yml"
SPEC_URI = "urn:clever:api:v3.0"

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

LINKS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"rel": {"type": "string"}, "uri": {"type": "string", "pattern": "^/"}},
        "required": ["rel", "uri"],
        "additionalProperties": False,
    },
}
EXTRA_DEFINITIONS: dict[str, Any] = {
    "MeResponse": {
        "type": "object",
        "required": ["type", "data", "links"],
        "additionalProperties": False,
        "properties": {
            "type": {"enum": ["user"]},
            "data": {
                "type": "object",
                "required": ["id", "type", "authorized_by"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "pattern": "^[0-9a-f]{24}$"},
                    "district": {"type": "string", "pattern": "^[0-9a-f]{24}$"},
                    "type": {"enum": ["user"]},
                    "authorized_by": {"enum": ["district", "teacher"]},
                },
            },
            "links": LINKS,
        },
    },
    "UserInfo": {
        "type": "object",
        "required": [
            "sub",
            "user_id",
            "multi_role_user_id",
            "user_type",
            "name",
            "given_name",
            "family_name",
            "email_verified",
            "authorized_by",
            "schools",
        ],  # fmt: skip
        "additionalProperties": False,
        "properties": {
            "sub": {"type": "string"},
            "user_id": {"type": "string"},
            "multi_role_user_id": {"type": "string"},
            "user_type": {"enum": ["student", "teacher", "staff", "district admin", "contact"]},
            "district_id": {"type": "string"},
            "district": {"type": "string"},
            "email": {"type": "string"},
            "name": {
                "type": "object",
                "required": ["first", "last", "middle"],
                "additionalProperties": False,
                "properties": {k: {"type": "string"} for k in ("first", "last", "middle")},
            },
            "schools": {"type": "array", "items": {"type": "string"}},
            "given_name": {"type": "string"},
            "family_name": {"type": "string"},
            "email_verified": {"type": "boolean"},
            "authorized_by": {"enum": ["district", "teacher"]},
        },
    },
    "TokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type"],
        "additionalProperties": False,
        "properties": {"access_token": {"type": "string"}, "token_type": {"enum": ["bearer"]}},
    },
    "OAuthError": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    },
}


def _allow_null(node: Any) -> Any:
    """Swagger's `x-nullable: true` as JSON Schema: the same schema, or null."""
    if isinstance(node, list):
        return [_allow_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _allow_null(value) for key, value in node.items()}
    if node.pop("x-nullable", False):
        if "$ref" in node:
            return {"anyOf": [{"$ref": node["$ref"]}, {"type": "null"}]}
        if "type" in node:
            node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
    return node


def _forbid_extra(definitions: dict[str, Any]) -> None:
    # Objects without `properties` (such as `ext`, a district's own extensions) stay open.
    for name, schema in definitions.items():
        if "properties" not in schema or name in EXTRA_DEFINITIONS:
            continue
        schema["additionalProperties"] = False
        # Single-object wrappers carry `links` in real responses; the spec leaves them out.
        if name.endswith("Response") and "links" not in schema["properties"]:
            schema["properties"]["links"] = LINKS


@cache
def load_spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@cache
def _registry(strict: bool) -> Registry:
    document = _allow_null(copy.deepcopy(load_spec()))
    document["definitions"].update(copy.deepcopy(EXTRA_DEFINITIONS))
    if strict:
        _forbid_extra(document["definitions"])
    return Registry().with_resource(SPEC_URI, Resource(document, specification=DRAFT4))


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checks("datetime")(lambda value: not isinstance(value, str) or bool(
        _TIMESTAMP.fullmatch(value)))  # fmt: skip
    checker.checks("date")(lambda value: not isinstance(value, str) or bool(_DATE.fullmatch(value)))
    return checker


@cache
def validator(definition: str, strict: bool = True) -> Draft4Validator:
    if definition not in load_spec()["definitions"] and definition not in EXTRA_DEFINITIONS:
        raise KeyError(f"no definition {definition!r} in the spec")
    return Draft4Validator(
        {"$ref": f"{SPEC_URI}#/definitions/{definition}"},
        registry=_registry(strict),
        format_checker=_format_checker(),
    )


def errors(definition: str, payload: Any, strict: bool = True) -> list[str]:
    """Human-readable problems (empty when the payload is valid)."""
    problems = []
    for error in validator(definition, strict).iter_errors(payload):
        # For "value or null" (anyOf) report why the value itself failed, not the wrapper.
        while error.context:
            error = max(error.context, key=lambda e: len(e.relative_path))
        where = "/".join(map(str, error.absolute_path))
        problems.append(f"{definition} at /{where}: {error.message[:300]}")
    return problems
