"""Run the vendored axe-core (``vendor/axe.min.js``) in a page and report violations.

::

    violations = axe_playwright(page)            # or axe_selenium(driver)
    bad = serious_or_critical(violations)
    assert not bad, format_violations(bad)

The script is injected through the automation protocol (Playwright ``page.evaluate`` / WebDriver
``execute_script``), which a page's Content-Security-Policy does not block.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "AXE_PATH",
    "DEFAULT_RUN_OPTIONS",
    "axe_playwright",
    "axe_selenium",
    "axe_source",
    "format_violations",
    "serious_or_critical",
]

AXE_PATH = Path(__file__).with_name("vendor") / "axe.min.js"
DEFAULT_RUN_OPTIONS: dict[str, Any] = {"resultTypes": ["violations"]}
SERIOUS_IMPACTS = frozenset({"serious", "critical"})

Violation = dict[str, Any]

_HAS_AXE = "typeof window.axe === 'object' && typeof window.axe.run === 'function'"

# Runs axe on ``document`` (or on a CSS selector/axe context given as the first argument).
_RUN_JS = """
async ([context, options]) => {
  const result = await window.axe.run(context === null ? document : context, options);
  return result.violations;
}
"""

_RUN_ASYNC_JS = """
const [context, options, done] = arguments;
window.axe.run(context === null ? document : context, options).then(
  (result) => done({violations: result.violations}),
  (error) => done({error: String(error && error.stack || error)}),
);
"""


@functools.cache
def axe_source() -> str:
    """The axe-core script, exposing ``window.axe`` when evaluated in a page."""
    source = AXE_PATH.read_text(encoding="utf-8")
    # WebDriver's execute_script wraps code in a function, where axe's top-level ``var axe``
    # would stay local: publish it explicitly.
    return source + "\n;if (typeof axe !== 'undefined') { window.axe = axe; }\n"


def _run_options(options: dict[str, Any] | None) -> dict[str, Any]:
    return {**DEFAULT_RUN_OPTIONS, **(options or {})}


def axe_playwright(
    page: Any, *, context: Any = None, options: dict[str, Any] | None = None
) -> list[Violation]:
    """Inject axe into a Playwright ``page`` (if needed), run it and return the violations.

    ``context`` is an axe context (e.g. ``"main"`` or ``{"exclude": [".ad"]}``), default the
    whole document; ``options`` are merged over ``{"resultTypes": ["violations"]}``.
    """
    if not page.evaluate(f"() => {_HAS_AXE}"):
        page.evaluate(axe_source())
        if not page.evaluate(f"() => {_HAS_AXE}"):
            raise RuntimeError(f"axe-core did not load in {page.url}")
    return page.evaluate(_RUN_JS, [context, _run_options(options)])


def axe_selenium(
    driver: Any,
    *,
    context: Any = None,
    options: dict[str, Any] | None = None,
    timeout: float = 60.0,
) -> list[Violation]:
    """Inject axe into the current page of a Selenium ``driver``, run it, return violations."""
    if not driver.execute_script(f"return {_HAS_AXE};"):
        driver.execute_script(axe_source())
        if not driver.execute_script(f"return {_HAS_AXE};"):
            raise RuntimeError(f"axe-core did not load in {driver.current_url}")
    previous = driver.timeouts.script
    driver.set_script_timeout(timeout)
    try:
        outcome = driver.execute_async_script(_RUN_ASYNC_JS, context, _run_options(options))
    finally:
        driver.set_script_timeout(previous)
    if not isinstance(outcome, dict) or "violations" not in outcome:
        raise RuntimeError(f"axe.run failed in {driver.current_url}: {outcome!r}")
    return outcome["violations"]


def serious_or_critical(violations: Iterable[Violation]) -> list[Violation]:
    """Only the violations whose impact is "serious" or "critical"."""
    return [v for v in violations if v.get("impact") in SERIOUS_IMPACTS]


def format_violations(
    violations: Iterable[Violation], *, max_targets: int = 3, max_violations: int = 20
) -> str:
    """A readable multi-line summary for an assertion message."""
    violations = list(violations)
    if not violations:
        return "no accessibility violations"
    lines = [f"{len(violations)} accessibility violation(s):"]
    for violation in violations[:max_violations]:
        nodes = violation.get("nodes") or []
        targets = [json.dumps(node.get("target")) for node in nodes[:max_targets]]
        more = f" (+{len(nodes) - max_targets} more)" if len(nodes) > max_targets else ""
        lines.append(
            f"- [{violation.get('impact') or 'n/a'}] {violation.get('id')}: "
            f"{violation.get('help')} ({len(nodes)} node(s))"
        )
        if targets:
            lines.append(f"    targets: {', '.join(targets)}{more}")
        if violation.get("helpUrl"):
            lines.append(f"    {violation['helpUrl']}")
    if len(violations) > max_violations:
        lines.append(f"... and {len(violations) - max_violations} more")
    return "\n".join(lines)
