"""clever/negotiate.py: one rule for "does this request want JSON"."""

from __future__ import annotations

import pytest

from clever.negotiate import wants_json, wants_json_refusal

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("path", "headers", "json", "refusal"),
    [
        ("/dashboard", HTML, False, False),
        ("/dashboard", JSON, True, True),
        ("/sync/status", {}, True, True),  # a JSON-only endpoint, whatever Accept says
        ("/sync/history", HTML, False, True),  # a page, but the sync routes refuse in JSON
        ("/sync", {}, False, True),
        ("/synchronise", {}, False, False),  # only the sync routes, not a path prefix
        ("/classes/selection", {}, False, False),
    ],
)
def test_one_rule_for_json(app, path, headers, json, refusal):
    with app.test_request_context(path, headers=headers):  # matches the endpoint too
        assert wants_json() is json
        assert wants_json_refusal() is refusal


def test_every_caller_uses_the_one_rule():
    """No view or hook tests Accept or a /sync path on its own any more."""
    import pathlib
    import re

    root = pathlib.Path(__file__).parent.parent / "clever"
    offenders = [
        str(path)
        for path in root.rglob("*.py")
        if "sandbox" not in path.parts
        and path.name != "negotiate.py"
        and re.search(r"accept_mimetypes|request\.path\b.*/sync", path.read_text())
    ]
    assert offenders == []
