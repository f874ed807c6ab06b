"""Markup each process keeps between page views: template macros whose output depends on their
arguments alone, so the same arguments can be answered with the same markup.

A dashboard draws a card per class and a checkbox per class on every view, and they come back
unchanged until a sync or a choice changes what they show. Keyed by every argument (hashable
values: tuples, named tuples, frozen dataclasses), kept markup is never stale; what changed is
a new key. Links inside start with the app's URL prefix (SCRIPT_NAME, a trusted proxy's
X-Forwarded-Prefix), so the prefix is part of the key too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from flask import get_template_attribute, request
from markupsafe import Markup


def kept_macro(template: str, name: str, maxsize: int) -> Callable[..., Markup]:
    """The macro ``name`` of ``template``, answering from the ``maxsize`` most recent results."""

    @lru_cache(maxsize=maxsize)
    def draw(script_root: str, *args) -> Markup:
        return get_template_attribute(template, name)(*args)

    def kept(*args) -> Markup:
        return draw(request.script_root, *args)

    kept.cache_info = draw.cache_info  # type: ignore[attr-defined]
    return kept
