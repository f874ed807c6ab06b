"""The Nu HTML checker (vnu-jar) on every page template, rendered the way people reach it (real
logins through the sandbox): zero errors. Java runs the checker once on all the pages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from flask import template_rendered
from sync_helpers import STUDY_ID, remove_four_of_six

from models import Section, db

ROOT = Path(__file__).resolve().parents[1]
JAR = ROOT / ".vnu" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
TEMPLATES = ROOT / "templates"


def page_templates() -> set[str]:
    """Every template that is a whole page: not base.html, a partial or an _include."""
    return {
        path.relative_to(TEMPLATES).as_posix()
        for path in TEMPLATES.rglob("*.html")
        if path.name != "base.html"
        and not path.name.startswith("_")
        and "partials" not in path.parts
    }


def need(what: str, ok: bool) -> None:
    """Skip locally when a tool is missing; fail in CI, where .ci/install-system-deps ran."""
    if ok:
        return
    message = f"{what} is missing; run .ci/install-system-deps"
    if os.environ.get("CI") or os.environ.get("REQUIRE_BROWSERS") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def vnu_jar() -> Path:
    need("java", shutil.which("java") is not None)
    if not JAR.exists():
        need("npm", shutil.which("npm") is not None)
        subprocess.run(["bash", str(ROOT / ".ci" / "install-vnu")], check=True)
    return JAR


class Pages:
    """Saves each page's HTML to a file, and notes which page templates rendered it."""

    def __init__(self, app, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, str] = {}
        self.rendered: set[str] = set()
        template_rendered.connect(self._note, app)

    def _note(self, sender, template, context, **extra) -> None:
        self.rendered.add(template.name)

    def save(self, name: str, html: str) -> None:
        path = self.folder / f"{len(self.files):02d}-{name}.html"
        path.write_text(html, encoding="utf-8")
        self.files[path.name] = name


def get(flow, pages: Pages, name: str, path: str, expect: int = 200) -> str:
    response = flow.client.get(path)
    assert response.status_code == expect, (path, response.status_code)
    html = response.get_data(as_text=True)
    pages.save(name, html)
    return html


def wait_for_held(flow, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = flow.client.get("/sync/status").json
        if state["status"] == "held":
            return state["run"]["id"]
        time.sleep(0.1)
    raise AssertionError(f"no held sync: {state}")


def visit_every_page(flow, app, sandbox, pages: Pages) -> None:
    for name, path in [
        ("landing", "/"),
        ("login", "/login"),
        ("privacy", "/privacy"),
        ("demo", "/demo"),
        ("signup", "/signup"),
        ("logged-out", "/logged-out"),
    ]:
        get(flow, pages, name, path)  # fmt: skip
    get(flow, pages, "404", "/no-such-page", 404)
    pages.save("guardian refusal", flow.portal_launch("guardian").text)

    link = flow.login_with_button("ana")
    pages.save("link offer", link.text)
    pages.save("teacher dashboard", flow.go_form(link, "No, I'm new").text)
    with app.app_context():
        big = db.session.scalar(db.select(Section.id).filter_by(name="Grade 4 Math - Núñez - 2"))
    get(flow, pages, "class page", f"/classes/{big}")
    get(flow, pages, "class page by grade", f"/classes/{big}?sort=grade")
    remove_four_of_six(sandbox)
    flow.client.post("/sync", headers={"Accept": "application/json"})
    run_id = wait_for_held(flow)
    get(flow, pages, "dashboard with a held sync", "/dashboard")
    get(flow, pages, "held sync", f"/sync/held/{run_id}")
    get(flow, pages, "sync history", "/sync/history")
    with app.app_context():
        assert db.session.scalar(db.select(Section.id).filter_by(clever_id=STUDY_ID))

    renee = flow.login_with_button("noemail_teacher")
    pages.save("onboarding", flow.go_form(renee, "No, I'm new").text)
    pages.save("admin page", flow.login_with_button("priya").text)
    pages.save("student dashboard", flow.login_with_button("mateo").text)
    # A logout whose form token expired, with nothing showing it came from our own page.
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        confirm = flow.client.post("/logout")
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert confirm.status_code == 400
    pages.save("logout confirmation", confirm.get_data(as_text=True))


def test_every_page_template_is_valid_html(vnu_jar, flow, app, sandbox, tmp_path):
    pages = Pages(app, tmp_path)
    visit_every_page(flow, app, sandbox, pages)
    assert page_templates() <= pages.rendered, page_templates() - pages.rendered
    result = subprocess.run(
        [
            "java",
            "-jar",
            str(vnu_jar),
            "--errors-only",
            "--format",
            "json",
            *(str(tmp_path / f) for f in sorted(pages.files)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    messages = json.loads(result.stderr or result.stdout)["messages"]
    assert len(pages.files) == 19
    errors = [
        f"{pages.files.get(m.get('url', '').rsplit('/', 1)[-1], m.get('url'))}: "
        f"line {m.get('lastLine')}: {m['message']}"
        for m in messages
        if m["type"] == "error" or m.get("subType") == "fatal"
    ]
    assert not errors, "\n".join(errors)
