"""Counting serial waves of Clever requests by dependency (tests/waves.py), on hand-made logs.

Times are seconds; each entry is a request the sandbox began at `time` and answered at `ended`.
"""

from __future__ import annotations

import random

from waves import calls_by_shape, group_waves, path_shape, wave_numbers

ID = "64a1f0c2b7e4d10001a7e001"
OTHER_ID = "64a1f0c2b7e4d10001a5ec01"


def call(name: str, started: float, ended: float, **extra) -> dict:
    return {"path": f"/{name}", "time": started, "ended": ended, **extra}


def names(groups: list[list[dict]]) -> list[list[str]]:
    return [[entry["path"].lstrip("/") for entry in wave] for wave in groups]


def test_no_requests_no_waves():
    assert wave_numbers([]) == [] and group_waves([]) == []


def test_one_login_at_the_floor_is_four_waves():
    log = [
        call("token", 0.000, 0.101),
        call("me", 0.103, 0.204),
        call("user", 0.206, 0.307),
        call("sections", 0.206, 0.309),
        call("mystudents", 0.207, 0.330),
        call("coteacher1", 0.331, 0.432),
        call("coteacher2", 0.331, 0.433),
    ]
    assert wave_numbers(log) == [1, 2, 3, 3, 3, 4, 4]
    assert names(group_waves(log)) == [
        ["token"],
        ["me"],
        ["user", "sections", "mystudents"],
        ["coteacher1", "coteacher2"],
    ]


def test_requests_sent_together_on_a_loaded_machine_stay_one_wave():
    # The sandbox picked the three up 1 ms, 60 ms and 95 ms after the first (more than the
    # 50 ms gap the old benchmark split waves at), but all before the first answer left.
    log = [
        call("sections", 0.000, 0.100),
        call("user", 0.001, 0.102),
        call("mystudents", 0.060, 0.170),
        call("district", 0.095, 0.196),
    ]
    assert wave_numbers(log) == [1, 1, 1, 1]


def test_a_request_right_after_an_answer_is_the_next_wave_however_small_the_gap():
    log = [call("me", 0.000, 0.100), call("sections", 0.1001, 0.200)]
    assert wave_numbers(log) == [1, 2]
    # ...and a request that began the very instant an answer left did not wait for it.
    assert wave_numbers([call("me", 0.0, 0.1), call("user", 0.1, 0.2)]) == [1, 1]


def test_uneven_waves_and_a_slow_answer():
    log = [
        call("token", 0.00, 0.10),
        call("me", 0.11, 0.21),
        call("sections", 0.22, 0.32),
        call("slow_user", 0.22, 0.80),  # a slow answer holds nothing back until it arrives
        call("members1", 0.33, 0.43),  # after the sections: wave 4
        call("members2", 0.40, 0.50),  # sent late (loaded machine), still before any 4th answer
        call("after_slow", 0.81, 0.90),  # after everything: one more than the highest
    ]
    assert wave_numbers(log) == [1, 2, 3, 3, 4, 4, 5]


def test_overlapping_chains_count_the_longest_chain_of_answers():
    # Two chains in flight at once: a1 -> a2 -> a3, and b1 (long) -> b2. b2 began after a1, a2
    # and a3 had all answered, so it is at least one wave after the deepest of them: by
    # dependency as far as the log can tell (it cannot see which answer b2 needed).
    log = [
        call("a1", 0.00, 0.10),
        call("b1", 0.05, 0.50),
        call("a2", 0.11, 0.21),
        call("a3", 0.22, 0.32),
        call("b2", 0.51, 0.60),
        call("c", 0.15, 0.25),  # after a1's answer, before a2's: a2's wave
    ]
    assert wave_numbers(log) == [1, 1, 2, 3, 4, 2]
    assert names(group_waves(log)) == [["a1", "b1"], ["a2", "c"], ["a3"], ["b2"]]


def test_the_count_depends_on_order_not_on_how_the_log_is_listed_or_stretched():
    log = [
        call("token", 0.00, 0.10),
        call("me", 0.12, 0.22),
        call("user", 0.23, 0.33),
        call("sections", 0.24, 0.35),
        call("teacher", 0.36, 0.46),
    ]
    expected = {"/token": 1, "/me": 2, "/user": 3, "/sections": 3, "/teacher": 4}
    shuffled = random.Random(16).sample(log, len(log))
    assert {e["path"]: n for e, n in zip(shuffled, wave_numbers(shuffled))} == expected
    # A machine three times slower (every delay and gap stretched) counts the same waves.
    slow = [call(e["path"][1:], 3 * e["time"] + 7, 3 * e["ended"] + 7) for e in log]
    assert {e["path"]: n for e, n in zip(slow, wave_numbers(slow))} == expected


def test_path_shapes_hide_ids_and_mark_next_pages():
    sections = {"method": "GET", "path": f"/v3.0/users/{ID}/sections", "query": {}}
    page = {
        "method": "GET",
        "path": f"/v3.0/sections/{OTHER_ID}/users",
        "query": {"starting_after": ID, "limit": "100"},
    }
    token = {"method": "POST", "path": "/oauth/tokens", "query": {}}
    assert path_shape(sections) == "GET /v3.0/users/{id}/sections"
    assert path_shape(page) == "GET /v3.0/sections/{id}/users +page"
    assert path_shape(token) == "POST /oauth/tokens"
    assert calls_by_shape([sections, page, sections, token]) == {
        "GET /v3.0/users/{id}/sections": 2,
        "GET /v3.0/sections/{id}/users +page": 1,
        "POST /oauth/tokens": 1,
    }
