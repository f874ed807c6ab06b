"""Lighthouse (the npm CLI, driving Debian's Chromium) on the landing page, the login page, a
teacher's dashboard and a class page: accessibility and best practices both 100.

The logged-in pages get the session cookie of a real login (Chromium through the sandbox) by
``--extra-headers``. Lighthouse is installed by ``.ci/install-lighthouse`` into .lighthouse/
(this module calls it when the CLI is missing). On a score below 100 the failing audits are
printed with the elements they name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from .browsers import browsers_required, chromium_executable, need
from .test_e2e_chromium import (
    CLASS_PAGE,
    DASHBOARD,
    continue_as_new_teacher,
    log_in_with_our_button,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".lighthouse" / "node_modules" / "lighthouse" / "cli" / "index.js"
CATEGORIES = ("accessibility", "best-practices")
RUN_TIMEOUT = 180  # seconds for one page; a run takes ~10-20 s on a busy 2-core machine


@pytest.fixture(scope="module")
def lighthouse_cli() -> Path:
    need("chromium")
    if not CLI.exists():
        missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
        if missing:
            message = f"{' and '.join(missing)} missing; run .ci/install-system-deps"
            if browsers_required():
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        subprocess.run(["bash", str(ROOT / ".ci" / "install-lighthouse")], check=True)
    return CLI


def lighthouse(cli: Path, url: str, cookie: str | None = None) -> dict:
    """One Lighthouse run (mobile, its default) of the two categories; returns the JSON report."""
    with tempfile.TemporaryDirectory(prefix="lighthouse-") as profile:
        command = [
            "node",
            str(cli),
            url,
            "--quiet",
            "--output=json",
            "--output-path=stdout",
            f"--only-categories={','.join(CATEGORIES)}",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage "
            f"--no-first-run --user-data-dir={profile}",
        ]
        if cookie:
            command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            env={**os.environ, "CHROME_PATH": chromium_executable() or "", "TMPDIR": profile},
        )
    assert result.returncode == 0, f"lighthouse failed on {url}:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout)


def failing_audits(report: dict) -> list[str]:
    """Every audit below a full score in the two categories, with the elements it names."""
    lines = []
    for category in CATEGORIES:
        for ref in report["categories"][category]["auditRefs"]:
            audit = report["audits"][ref["id"]]
            if ref["weight"] == 0 or audit["score"] is None or audit["score"] >= 1:
                continue
            lines.append(f"{category}: {ref['id']} ({audit['score']}): {audit['title']}")
            for item in (audit.get("details") or {}).get("items", [])[:5]:
                node = item.get("node") or {}
                lines.append(f"    {node.get('snippet') or item}")
    return lines


@pytest.fixture
def teacher_pages(new_context, live_url) -> tuple[str, str, str]:
    """(session cookie, dashboard URL, class page URL) of Ana after a real first login."""
    context = new_context()
    page = context.new_page()
    log_in_with_our_button(page, "Ana")
    continue_as_new_teacher(page)
    page.wait_for_url(DASHBOARD)
    dashboard = page.url
    page.get_by_test_id("class-card").filter(has_text="Grade 4 Math - Núñez - 2").get_by_role(
        "link"
    ).click()
    page.wait_for_url(CLASS_PAGE)
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies(live_url))
    return cookie, dashboard, page.url


def test_lighthouse_scores_100_on_the_main_pages(lighthouse_cli, live_url, teacher_pages):
    cookie, dashboard, class_page = teacher_pages
    pages = {
        "landing": (live_url + "/", None),
        "login": (live_url + "/login", None),
        "dashboard": (dashboard, cookie),
        "class page": (class_page, cookie),
    }
    problems = []
    for name, (url, with_cookie) in pages.items():
        report = lighthouse(lighthouse_cli, url, with_cookie)
        assert report["finalDisplayedUrl"] == url, f"{name}: ended at {report['finalDisplayedUrl']}"
        scores = {c: report["categories"][c]["score"] for c in CATEGORIES}
        print(f"lighthouse {name}: {scores}")
        if any(score != 1 for score in scores.values()):
            problems.append(f"{name} {scores}:\n" + "\n".join(failing_audits(report)))
    assert not problems, "\n".join(problems)
