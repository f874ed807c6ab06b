"""Unit tests for clever/api.py against requests-mock (no network, no real sleeping)."""

from __future__ import annotations

import logging
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from clever import api as api_module
from clever.api import CleverAPI, CleverAPIError

BASE = "https://api.clever.test"
TOKEN = "canary-tok-7f3e9a1c"
TEACHER_ID = "64a1f0c2b7e4d10001a7e001"
SECTION_ID = "64a1f0c2b7e4d10001a5ec01"
JSON = {"Content-Type": "application/json"}


class FakeClock:
    """Injected clock and sleep: sleeping advances time instantly and is recorded."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_api(clock: FakeClock):
    def make(**kwargs: Any) -> CleverAPI:
        return CleverAPI(BASE, TOKEN, sleep=clock.sleep, clock=clock.time, **kwargs)

    return make


@pytest.fixture
def client(make_api) -> CleverAPI:
    return make_api()


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A requests-mock response spec with a JSON content type."""
    return {"json": body, "status_code": status, "headers": {**JSON, **(headers or {})}}


def element(object_id: str, **fields: Any) -> dict[str, Any]:
    return {"data": {"id": object_id, **fields}}


def page(ids: list[str], next_uri: str | None = None) -> dict[str, Any]:
    links = [{"rel": "self", "uri": "/ignored"}]
    if next_uri:
        links.append({"rel": "next", "uri": next_uri})
    return {"data": [element(i) for i in ids], "links": links}


def user_doc(user_id: str = TEACHER_ID) -> dict[str, Any]:
    return {
        "data": {
            "id": user_id,
            "name": {"first": "Ana", "last": "Núñez"},
            "email": "ana.nunez@example.org",
            "roles": {"teacher": {}},
        },
        "links": [],
    }


ME_URL = f"{BASE}/v3.0/me"
ME_DOC = {"type": "user", "data": {"id": TEACHER_ID, "type": "user", "authorized_by": "teacher"}}


# -- paging ----------------------------------------------------------------------------------


def test_get_all_follows_next_links_across_pages_including_an_empty_middle_page(
    requests_mock, client
):
    users = f"/v3.0/sections/{SECTION_ID}/users"
    p2 = f"{users}?role=student&starting_after=s2"
    p3 = f"{users}?role=student&starting_after=s2b"
    requests_mock.get(f"{BASE}{users}?role=student", complete_qs=True, **ok(page(["s1", "s2"], p2)))
    requests_mock.get(f"{BASE}{p2}", complete_qs=True, **ok(page([], p3)))
    requests_mock.get(f"{BASE}{p3}", complete_qs=True, **ok(page(["s3"])))

    students = client.section_users(SECTION_ID, "student")

    assert [s["id"] for s in students] == ["s1", "s2", "s3"]
    assert [r.path_url for r in requests_mock.request_history] == [f"{users}?role=student", p2, p3]
    assert client.calls == 3


def test_a_district_app_client_pages_with_its_page_size_on_the_first_request_only(
    requests_mock, make_api
):
    client = make_api(page_size=2)
    sections = f"/v3.0/users/{TEACHER_ID}/sections"
    nxt = f"{sections}?limit=2&starting_after=x2"
    requests_mock.get(f"{BASE}{sections}?limit=2", complete_qs=True, **ok(page(["x1", "x2"], nxt)))
    requests_mock.get(f"{BASE}{nxt}", complete_qs=True, **ok(page(["x3"])))

    assert [s["id"] for s in client.user_sections(TEACHER_ID)] == ["x1", "x2", "x3"]
    assert [r.path_url for r in requests_mock.request_history] == [f"{sections}?limit=2", nxt]
    users = f"/v3.0/sections/{SECTION_ID}/users"
    requests_mock.get(f"{BASE}{users}", **ok(page(["s1"])))
    client.section_users(SECTION_ID, "teacher")
    assert requests_mock.last_request.qs == {"role": ["teacher"], "limit": ["2"]}
    with pytest.raises(ValueError, match="page_size"):
        make_api(page_size=10_001)


@pytest.mark.parametrize("page_size", [None, 1000])
def test_the_bulk_lists_page_only_with_a_district_app_token(requests_mock, make_api, page_size):
    client = make_api(page_size=page_size)
    expected = {} if page_size is None else {"limit": ["1000"]}
    for call, relation in ((client.my_students, "mystudents"), (client.my_teachers, "myteachers")):
        path = f"/v3.0/users/{TEACHER_ID}/{relation}"
        requests_mock.get(f"{BASE}{path}", **ok(page(["p1", "p2"])))
        assert [record["id"] for record in call(TEACHER_ID)] == ["p1", "p2"]
        assert (requests_mock.last_request.path, requests_mock.last_request.qs) == (
            path,
            expected,
        )


def test_a_user_token_client_never_sends_a_paging_parameter(requests_mock, client):
    """Clever refuses `limit` and the cursors to user tokens: lists come back whole."""
    sections = f"/v3.0/users/{TEACHER_ID}/sections"
    requests_mock.get(f"{BASE}{sections}", complete_qs=True, **ok(page(["x1"])))
    client.user_sections(TEACHER_ID)
    assert requests_mock.last_request.qs == {}
    users = f"/v3.0/sections/{SECTION_ID}/users"
    requests_mock.get(f"{BASE}{users}", complete_qs=True, **ok(page(["s1", "t1"])))
    assert [u["id"] for u in client.section_users(SECTION_ID)] == ["s1", "t1"]
    for params in ({"limit": 2}, {"starting_after": "x"}, {"ending_before": "y"}):
        with pytest.raises(ValueError, match="district-app token"):
            client.get_all(sections, params)
    # A `next` link Clever sends anyway is still followed, verbatim.
    nxt = f"{sections}?starting_after=x1"
    requests_mock.get(f"{BASE}{sections}", complete_qs=True, **ok(page(["x1"], nxt)))
    requests_mock.get(f"{BASE}{nxt}", complete_qs=True, **ok(page(["x2"])))
    assert [s["id"] for s in client.user_sections(TEACHER_ID)] == ["x1", "x2"]


def test_teacher_with_zero_sections_gets_an_empty_list(requests_mock, client):
    requests_mock.get(f"{BASE}/v3.0/users/{TEACHER_ID}/sections", **ok({"data": [], "links": []}))
    assert client.user_sections(TEACHER_ID) == []


@pytest.mark.parametrize("loop_back_to", ["first", "self"])
def test_pagination_loop_is_a_bad_response(requests_mock, client, loop_back_to):
    first = "/v3.0/sections/S/users?role=student"
    second = "/v3.0/sections/S/users?role=student&starting_after=a"
    back = first if loop_back_to == "first" else second
    requests_mock.get(f"{BASE}{first}", complete_qs=True, **ok(page(["a"], second)))
    requests_mock.get(f"{BASE}{second}", complete_qs=True, **ok(page(["b"], back)))

    with pytest.raises(CleverAPIError) as info:
        client.section_users("S", "student")
    assert info.value.kind == "bad_response"
    assert client.calls == 2


def test_page_cap_stops_an_endless_listing(requests_mock, client, monkeypatch):
    monkeypatch.setattr(api_module, "MAX_PAGES", 3)

    def endless(request, context):
        context.headers.update(JSON)
        n = int(request.qs.get("starting_after", ["0"])[0]) + 1
        return page([f"id{n}"], f"/v3.0/users/U/sections?starting_after={n}")

    requests_mock.get(f"{BASE}/v3.0/users/U/sections", json=endless)
    with pytest.raises(CleverAPIError, match="pages") as info:
        client.user_sections("U")
    assert info.value.kind == "bad_response"
    assert client.calls == 3


@pytest.mark.parametrize(
    "next_uri",
    [
        "https://evil.test/v3.0/users/U/sections?starting_after=a",
        "//evil.test/v3.0/users/U/sections?starting_after=a",
        "http://api.clever.test/v3.0/users/U/sections?starting_after=a",  # scheme downgrade
        "/\t/evil.test/x",
        "v3.0/users/U/sections?starting_after=a",
    ],
)
def test_next_link_to_another_host_or_malformed_is_rejected(requests_mock, client, next_uri):
    requests_mock.get(f"{BASE}/v3.0/users/U/sections", **ok(page(["a"], next_uri)))
    with pytest.raises(CleverAPIError) as info:
        client.user_sections("U")
    assert info.value.kind == "bad_response"
    assert requests_mock.call_count == 1


def test_absolute_next_link_on_the_same_host_is_followed(requests_mock, client):
    nxt = f"{BASE}/v3.0/users/U/sections?starting_after=a"
    requests_mock.get(f"{BASE}/v3.0/users/U/sections", complete_qs=True, **ok(page(["a"], nxt)))
    requests_mock.get(nxt, complete_qs=True, **ok(page(["b"])))
    assert [s["id"] for s in client.user_sections("U")] == ["a", "b"]


def test_failure_on_a_later_page_raises_instead_of_returning_a_partial_list(
    requests_mock, make_api
):
    client = make_api(max_retries=1)
    nxt = "/v3.0/users/U/sections?starting_after=a"
    requests_mock.get(f"{BASE}/v3.0/users/U/sections", complete_qs=True, **ok(page(["a"], nxt)))
    requests_mock.get(f"{BASE}{nxt}", complete_qs=True, status_code=500)
    with pytest.raises(CleverAPIError) as info:
        client.user_sections("U")
    assert (info.value.kind, info.value.status) == ("server_error", 500)


# -- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_is_retried_then_succeeds(requests_mock, client, clock, status):
    requests_mock.get(ME_URL, [{"status_code": status, "text": "<html>oops</html>"}, ok(ME_DOC)])

    assert client.me()["id"] == TEACHER_ID
    assert client.calls == 2
    assert len(clock.sleeps) == 1 and 0.25 <= clock.sleeps[0] <= 0.5


def test_server_error_gives_up_after_max_retries_with_growing_backoff(requests_mock, client, clock):
    requests_mock.get(ME_URL, **ok({"message": "internal error"}, status=503))

    with pytest.raises(CleverAPIError) as info:
        client.me()
    assert (info.value.kind, info.value.status, info.value.path) == (
        "server_error",
        503,
        "/v3.0/me",
    )
    assert client.calls == 4  # the first try and 3 retries
    for delay, step in zip(clock.sleeps, [0.5, 1.0, 2.0], strict=True):
        assert step / 2 <= delay <= step


def test_backoff_is_capped_by_max_backoff(requests_mock, make_api, clock):
    client = make_api(max_retries=6, backoff=1.0, max_backoff=3.0)
    requests_mock.get(ME_URL, status_code=500)
    with pytest.raises(CleverAPIError):
        client.me()
    assert len(clock.sleeps) == 6
    assert max(clock.sleeps) <= 3.0


def test_501_is_a_server_error_without_retry(requests_mock, client):
    requests_mock.get(ME_URL, status_code=501)
    with pytest.raises(CleverAPIError) as info:
        client.me()
    assert info.value.kind == "server_error"
    assert client.calls == 1


@pytest.mark.parametrize(
    "exc", [requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout]
)
def test_timeout_is_retried_then_succeeds(requests_mock, client, exc):
    requests_mock.get(ME_URL, [{"exc": exc}, {"exc": exc}, ok(ME_DOC)])
    assert client.me()["id"] == TEACHER_ID
    assert client.calls == 3


@pytest.mark.parametrize(
    "exc", [requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout]
)
def test_timeout_gives_up_with_kind_timeout(requests_mock, client, exc):
    requests_mock.get(ME_URL, exc=exc)
    with pytest.raises(CleverAPIError) as info:
        client.me()
    assert (info.value.kind, info.value.status) == ("timeout", None)
    assert client.calls == 4


@pytest.mark.parametrize(
    "exc", [requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError]
)
def test_dropped_connection_is_retried_then_kind_connection(requests_mock, client, exc):
    requests_mock.get(ME_URL, exc=exc)
    with pytest.raises(CleverAPIError) as info:
        client.me()
    assert info.value.kind == "connection"
    assert client.calls == 4


def test_dropped_connection_then_success(requests_mock, client):
    requests_mock.get(ME_URL, [{"exc": requests.exceptions.ConnectionError}, ok(ME_DOC)])
    assert client.me()["id"] == TEACHER_ID


def test_tls_error_is_not_retried(requests_mock, client):
    requests_mock.get(ME_URL, exc=requests.exceptions.SSLError)
    with pytest.raises(CleverAPIError) as info:
        client.me()
    assert info.value.kind == "connection"
    assert client.calls == 1


def test_max_retries_zero_means_one_attempt(requests_mock, make_api):
    client = make_api(max_retries=0)
    requests_mock.get(ME_URL, status_code=502)
    with pytest.raises(CleverAPIError):
        client.me()
    assert client.calls == 1


# -- 429 -------------------------------------------------------------------------------------


def test_429_waits_until_rate_limit_reset_then_succeeds(requests_mock, client, clock):
    reset = int(clock.now) + 7
    limited = ok({"message": "rate limit exceeded"}, 429, {"X-RateLimit-Reset": str(reset)})
    requests_mock.get(ME_URL, [limited, ok(ME_DOC)])
    start = clock.now

    assert client.me()["id"] == TEACHER_ID
    assert client.calls == 2
    assert len(clock.sleeps) == 1
    assert reset - start <= clock.sleeps[0] <= reset - start + 1


def test_429_pauses_every_caller_of_the_token(requests_mock, clock):
    reset = int(clock.now) + 10
    requests_mock.get(ME_URL, [ok({}, 429, {"X-RateLimit-Reset": str(reset)}), ok(ME_DOC)])
    school_sent_at: list[float] = []

    def school(request, context):
        context.headers.update(JSON)
        school_sent_at.append(clock.time())
        return {"data": {"id": "S"}}

    requests_mock.get(f"{BASE}/v3.0/schools/S", json=school)

    def sleep(seconds: float) -> None:
        # While the first caller waits out the 429, another caller (as another worker thread
        # would) must wait for the reset too instead of spending a request on another 429.
        if not school_sent_at and len(clock.sleeps) == 0:
            clock.sleep(0)
            client.school("S")
        clock.sleep(seconds)

    client = CleverAPI(BASE, TOKEN, sleep=sleep, clock=clock.time)
    client.me()
    assert school_sent_at and school_sent_at[0] >= reset
    assert client.calls == 3


def test_429_falls_back_to_retry_after(requests_mock, client, clock):
    requests_mock.get(ME_URL, [ok({}, 429, {"Retry-After": "4"}), ok(ME_DOC)])
    client.me()
    assert clock.sleeps == [pytest.approx(4.0)]


def test_429_reset_beyond_the_cap_is_rate_limited_without_waiting(requests_mock, make_api, clock):
    client = make_api(max_rate_limit_wait=30)
    reset = int(clock.now) + 45
    requests_mock.get(ME_URL, **ok({}, 429, {"X-RateLimit-Reset": str(reset)}))

    with pytest.raises(CleverAPIError) as info:
        client.me()
    assert (info.value.kind, info.value.status) == ("rate_limited", 429)
    assert client.calls == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("header", [None, "soon", "nan", "12.5.1"])
def test_429_without_usable_reset_backs_off_and_gives_up_after_five_waits(
    requests_mock, client, clock, header
):
    headers = {"X-RateLimit-Reset": header} if header else {}
    requests_mock.get(ME_URL, **ok({}, 429, headers))

    with pytest.raises(CleverAPIError) as info:
        client.me()
    assert info.value.kind == "rate_limited"
    assert client.calls == 6  # 3 retries + 2 extra for 429
    assert len(clock.sleeps) == 5
    assert all(0 < s <= 8.0 for s in clock.sleeps)


def test_429_with_reset_in_the_past_backs_off(requests_mock, client, clock):
    limited = ok({}, 429, {"X-RateLimit-Reset": str(int(clock.now) - 5)})
    requests_mock.get(ME_URL, [limited, ok(ME_DOC)])
    client.me()
    assert len(clock.sleeps) == 1 and 0.25 <= clock.sleeps[0] <= 0.5


# -- response validation ---------------------------------------------------------------------


def test_html_body_with_200_is_a_bad_response_without_retry(requests_mock, client):
    requests_mock.get(
        ME_URL,
        text="<html><body>Sign in</body></html>",
        headers={"Content-Type": "text/html; charset=utf-8"},
    )
    with pytest.raises(CleverAPIError) as info:
        client.me()
    assert (info.value.kind, info.value.status) == ("bad_response", 200)
    assert client.calls == 1


def test_json_body_labelled_as_html_is_a_bad_response(requests_mock, client):
    requests_mock.get(ME_URL, json=ME_DOC, headers={"Content-Type": "text/html"})
    with pytest.raises(CleverAPIError, match="bad_response"):
        client.me()


@pytest.mark.parametrize(
    "body",
    [b'{"data": {"id": "64a1f0c2b7e4', b"", b"[1, 2]", b'"text"', b"\xff\xfe\x00garbage"],
)
def test_truncated_or_non_object_json_is_a_bad_response(requests_mock, client, body):
    requests_mock.get(ME_URL, content=body, headers=JSON)
    with pytest.raises(CleverAPIError) as info:
        client.get("/v3.0/me")
    assert info.value.kind == "bad_response"


def test_json_content_type_variants_are_accepted(requests_mock, client):
    requests_mock.get(
        ME_URL, json=ME_DOC, headers={"Content-Type": "application/vnd.clever+json; charset=utf-8"}
    )
    assert client.me()["id"] == TEACHER_ID


@pytest.mark.parametrize(
    "doc",
    [{}, {"data": None}, {"data": {}}, {"data": {"id": ""}}, {"data": {"id": 7}}, {"data": []}],
)
def test_single_object_without_id_is_a_bad_response(requests_mock, client, doc):
    requests_mock.get(f"{BASE}/v3.0/schools/S", **ok(doc))
    with pytest.raises(CleverAPIError, match="data.id") as info:
        client.school("S")
    assert info.value.kind == "bad_response"


@pytest.mark.parametrize("missing", ["roles", "name"])
def test_user_requires_roles_and_name_objects(requests_mock, client, missing):
    doc = user_doc()
    doc["data"][missing] = None
    requests_mock.get(f"{BASE}/v3.0/users/{TEACHER_ID}", **ok(doc))
    with pytest.raises(CleverAPIError, match=missing) as info:
        client.user(TEACHER_ID)
    assert info.value.kind == "bad_response"


@pytest.mark.parametrize(
    "doc",
    [
        {"data": {"id": "x"}},
        {"data": [{"id": "flat-not-wrapped"}]},
        {"data": [{"data": {"name": "no id"}}]},
        {"data": ["x"]},
        {"data": [], "links": {"next": "/v3.0/x"}},
        {"data": [], "links": [{"rel": "next"}]},
    ],
)
def test_malformed_list_page_is_a_bad_response(requests_mock, client, doc):
    requests_mock.get(f"{BASE}/v3.0/users/U/sections", **ok(doc))
    with pytest.raises(CleverAPIError) as info:
        client.user_sections("U")
    assert info.value.kind == "bad_response"


def test_me_tolerates_a_missing_district(requests_mock, client):
    requests_mock.get(ME_URL, **ok(ME_DOC))
    assert client.me() == ME_DOC["data"]


def test_user_returns_the_data_object(requests_mock, client):
    requests_mock.get(f"{BASE}/v3.0/users/{TEACHER_ID}", **ok(user_doc()))
    assert client.user(TEACHER_ID)["roles"] == {"teacher": {}}


def test_school_and_district(requests_mock, client):
    requests_mock.get(f"{BASE}/v3.0/schools/SC", **ok({"data": {"id": "SC", "name": "Cedar"}}))
    requests_mock.get(f"{BASE}/v3.0/districts/D", **ok({"data": {"id": "D", "name": "Maple"}}))
    assert client.school("SC")["name"] == "Cedar"
    assert client.district("D")["name"] == "Maple"


# -- 4xx and redirects -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, "unauthorized"),
        (403, "forbidden"),
        (404, "not_found"),
        (400, "client_error"),
        (413, "client_error"),
    ],
)
def test_client_errors_map_to_kinds_without_retry(requests_mock, client, clock, status, kind):
    requests_mock.get(ME_URL, **ok({"message": "Resource not in token's scopes"}, status))
    with pytest.raises(CleverAPIError) as info:
        client.me()
    assert (info.value.kind, info.value.status) == (kind, status)
    assert client.calls == 1
    assert clock.sleeps == []


def test_html_401_is_unauthorized(requests_mock, client):
    requests_mock.get(
        ME_URL,
        status_code=401,
        text="<html><h1>401</h1></html>",
        headers={"Content-Type": "text/html"},
    )
    with pytest.raises(CleverAPIError) as info:
        client.me()
    assert info.value.kind == "unauthorized"


def test_redirects_are_not_followed(requests_mock, client):
    requests_mock.get(ME_URL, status_code=302, headers={"Location": "https://evil.test/steal"})
    with pytest.raises(CleverAPIError) as info:
        client.me()
    assert (info.value.kind, info.value.status) == ("bad_response", 302)
    assert requests_mock.call_count == 1  # requests-mock has no route for evil.test


# -- request shape, secrets and logging ------------------------------------------------------


class RecordingSession(requests.Session):
    """Records the keyword arguments of each get(); requests-mock does not see allow_redirects."""

    def __init__(self) -> None:
        super().__init__()
        self.kwargs: list[dict[str, Any]] = []

    def get(self, url, **kwargs):
        self.kwargs.append(kwargs)
        return super().get(url, **kwargs)


def test_every_request_sends_bearer_token_accept_timeout_and_no_redirects(requests_mock, make_api):
    session = RecordingSession()
    client = make_api(timeout=(1.5, 4.0), session=session)
    requests_mock.get(ME_URL, [{"status_code": 503}, ok(ME_DOC)])
    client.me()
    for request in requests_mock.request_history:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Accept"] == "application/json"
        assert request.timeout == (1.5, 4.0)
    assert len(session.kwargs) == 2
    assert all(kw["allow_redirects"] is False for kw in session.kwargs)


def test_ids_cannot_add_path_segments(requests_mock, client):
    requests_mock.get(f"{BASE}/v3.0/users/a%2F..%2Fb%3Fx", **ok(user_doc("a")))
    client.user("a/../b?x")
    assert requests_mock.last_request.path_url == "/v3.0/users/a%2F..%2Fb%3Fx"
    with pytest.raises(ValueError):
        client.school("..")
    with pytest.raises(ValueError):
        client.section_users("S", "staff")


def test_token_and_personal_data_never_appear_in_errors_or_logs(requests_mock, client, caplog):
    caplog.set_level(logging.DEBUG)
    requests_mock.get(f"{BASE}/v3.0/users/{TEACHER_ID}", **ok(user_doc()))
    requests_mock.get(ME_URL, [{"status_code": 500}, {"exc": requests.exceptions.ReadTimeout}])
    requests_mock.get(f"{BASE}/v3.0/schools/S", status_code=401, text=f"bad token {TOKEN}")

    client.user(TEACHER_ID)
    errors = []
    for call in (lambda: client.me(), lambda: client.school("S")):
        with pytest.raises(CleverAPIError) as info:
            call()
        errors.append(info.value)

    texts = [str(e) for e in errors] + [repr(e) for e in errors] + [repr(client)]
    texts += [record.getMessage() for record in caplog.records]
    assert any("/v3.0/me" in record.getMessage() for record in caplog.records)
    assert any(r.levelno == logging.WARNING for r in caplog.records if r.name == "clever.api")
    for text in texts:
        assert TOKEN not in text
        assert "Núñez" not in text and "ana.nunez" not in text


def test_debug_log_has_method_path_status_and_elapsed(requests_mock, client, caplog):
    caplog.set_level(logging.DEBUG, logger="clever.api")
    requests_mock.get(ME_URL, **ok(ME_DOC))
    client.me()
    (record,) = [r for r in caplog.records if r.name == "clever.api"]
    assert record.levelno == logging.DEBUG
    assert record.getMessage().startswith("GET /v3.0/me -> 200 in ")


def test_constructor_rejects_bad_input_without_echoing_the_token():
    with pytest.raises(ValueError) as info:
        CleverAPI(BASE, "secret-value\r\nX-Evil: 1")
    assert "secret-value" not in str(info.value)
    with pytest.raises(ValueError):
        CleverAPI("https://api.clever.test/v3.0", TOKEN)
    with pytest.raises(ValueError):
        CleverAPI("ftp://api.clever.test", TOKEN)


def test_error_survives_pickling():
    error = pickle.loads(pickle.dumps(CleverAPIError("not_found", 404, "/v3.0/sections/S")))
    assert (error.kind, error.status, error.path) == ("not_found", 404, "/v3.0/sections/S")


# -- client-side rate limit and threads ------------------------------------------------------


def test_rate_limiter_sleeps_until_the_window_frees(requests_mock, make_api, clock):
    client = make_api(requests_per_minute=5)
    requests_mock.get(ME_URL, **ok(ME_DOC))
    start = clock.now
    for _ in range(5):
        client.me()
        clock.now += 1  # one call per second
    assert clock.sleeps == []

    client.me()  # the 6th call, at start + 5 s
    assert clock.sleeps == [pytest.approx(55.0)]
    assert clock.now == pytest.approx(start + 60)
    client.me()  # the slot of the 2nd call (at start + 1 s) frees one second later
    assert clock.sleeps[1:] == [pytest.approx(1.0)]


def test_rate_limit_holds_across_threads(requests_mock, make_api, clock):
    limit = 10
    client = make_api(requests_per_minute=limit)
    sent_at: list[float] = []

    def answer(request, context):
        context.headers.update(JSON)
        sent_at.append(clock.time())
        return ME_DOC

    requests_mock.get(ME_URL, json=answer)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: client.me(), range(35)))

    sent_at.sort()
    assert len(sent_at) == client.calls == 35
    for first, later in zip(sent_at, sent_at[limit:], strict=False):
        assert later - first >= 60


def test_calls_counter_is_exact_under_threads(requests_mock, client):
    requests_mock.get(ME_URL, [{"status_code": 500}] + [ok(ME_DOC)] * 200)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: client.me()["id"], range(160)))
    assert results == [TEACHER_ID] * 160
    assert client.calls == 161 == requests_mock.call_count  # the retry counts too


def test_a_deadline_caps_each_request_and_stops_retries(requests_mock, make_api, clock):
    deadline = clock.time() + 2.5
    client = make_api(max_retries=5, backoff=1.0, deadline=deadline)
    requests_mock.get(ME_URL, status_code=503)
    with pytest.raises(CleverAPIError) as info:
        client.me()
    assert info.value.kind == "timeout" and "deadline" in info.value.detail
    # Retries stopped before the deadline: no wait ended past it, and fewer than 6 attempts.
    assert clock.time() < deadline and sum(clock.sleeps) < 2.5
    assert 1 <= requests_mock.call_count < 6
    read_timeouts = [request.timeout[1] for request in requests_mock.request_history]
    assert all(timeout <= 2.5 for timeout in read_timeouts)


def test_no_request_starts_after_the_deadline(requests_mock, make_api, clock):
    client = make_api(deadline=clock.time() - 1)
    requests_mock.get(ME_URL, **ok({"data": {"id": TEACHER_ID}}))
    with pytest.raises(CleverAPIError, match="timeout"):
        client.me()
    assert requests_mock.call_count == 0
