"""Serial waves of Clever requests, counted by dependency from the sandbox's request log.

A login's floor is its chain of dependent Clever round trips. The sandbox logs when it began
each request (`time`) and when the answer left (`ended`, after any injected delay), so the
log says which requests could have waited for which answers:

    wave(r) = 1 + the highest wave among requests whose answer ended before r started
              (1 when there is none)

Requests sent together stay in one wave however unevenly a loaded machine spaces them, and a
request sent after an answer arrived is in a later wave however quickly it follows. Grouping by
time gaps (the previous benchmark) moved with the machine's load; this does not, unless a
request waits longer to be picked up by the sandbox than a whole answer takes to come back.

Pure functions over log entries (dicts with at least `time` and `ended`), shared by the
benchmarks and unit-tested in tests/test_waves.py.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

# Clever ids are 24 hex digits (Mongo ObjectIds); the sandbox's follow the same shape.
CLEVER_ID = re.compile(r"\b[0-9a-f]{24}\b")


def wave_numbers(entries: Iterable[dict]) -> list[int]:
    """The wave of each entry, in the order given."""
    entries = list(entries)
    order = sorted(range(len(entries)), key=lambda i: entries[i]["time"])
    numbers = [0] * len(entries)
    seen: list[int] = []  # indexes already numbered: only they can have ended before
    for i in order:
        started = entries[i]["time"]
        before = [numbers[j] for j in seen if entries[j]["ended"] < started]
        numbers[i] = 1 + max(before, default=0)
        seen.append(i)
    return numbers


def group_waves(entries: Iterable[dict]) -> list[list[dict]]:
    """The entries wave by wave (wave 1 first), each wave in the order its requests started."""
    entries = sorted(entries, key=lambda e: e["time"])
    numbers = wave_numbers(entries)
    groups: list[list[dict]] = [[] for _ in range(max(numbers, default=0))]
    for entry, number in zip(entries, numbers, strict=True):
        groups[number - 1].append(entry)
    return groups


def path_shape(entry: dict) -> str:
    """`GET /v3.0/users/{id}/sections`: the call without its ids; `+page` for a next page."""
    path = CLEVER_ID.sub("{id}", entry["path"])
    page = " +page" if "starting_after" in (entry.get("query") or {}) else ""
    return f"{entry.get('method', 'GET')} {path}{page}"


def calls_by_shape(entries: Iterable[dict]) -> Counter[str]:
    return Counter(path_shape(entry) for entry in entries)
