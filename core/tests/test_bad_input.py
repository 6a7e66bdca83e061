"""Bad input is a 4xx in the envelope, never a 500 (DESIGN.md section 8, issue 13).

Every case here answered 500 (or read a whole oversized body) before; each goes through the
Django test client on an organization's host, the path a real request takes.
"""

import logging

import pytest
from rest_framework.test import APIClient


def envelope(response):
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


@pytest.fixture
def client(acme):
    # A crash must come back as the response it would be in production, not as a raised error.
    return APIClient(HTTP_HOST=acme.host, raise_request_exception=False)


def owner(acme):
    client = acme.client("owner")
    client.raise_request_exception = False
    return client


# --- ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
@pytest.mark.parametrize("pk", ["null,null", "abc", "-1", "1.5", "99999999999999999999999"])
def test_members_non_numeric_id_is_404(acme, method, pk):
    response = getattr(owner(acme), method)(f"/api/v1/members/{pk}/", {}, format="json")
    assert response.status_code == 404
    assert envelope(response)["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/agents/{pk}/",
        "/api/v1/agents/{pk}/stock-movements/",
        "/api/v1/agent-categories/{pk}/",
        "/api/v1/tasks/{pk}/",
        "/api/v1/tasks/{pk}/events/",
        "/api/v1/screens/{pk}/",
        "/api/v1/reports/daily/{pk}/",
        "/api/v1/reports/monthly/{pk}/download/",
        "/api/v1/reports/jobs/{pk}/",
    ],
)
@pytest.mark.parametrize("pk", ["null", "1e3", "9223372036854775808", "%00"])
def test_every_detail_route_refuses_malformed_ids(acme, path, pk):
    response = owner(acme).get(path.format(pk=pk))
    assert response.status_code == 404
    assert envelope(response)["code"] == "NOT_FOUND"


def test_every_router_viewset_constrains_its_id():
    """No viewset can forget it: the base class sets the pattern, UUID ones override it."""
    from django.urls import get_resolver

    from core.api import TenantViewSetMixin

    patterns = [
        p
        for p in get_resolver("config.urls_tenant").url_patterns[0].url_patterns
        if hasattr(p, "url_patterns")
    ]
    seen = 0
    for include in patterns:
        for pattern in include.url_patterns:
            view = getattr(pattern.callback, "cls", None)
            if view is None or "(?P<pk>" not in str(pattern.pattern):
                continue
            assert issubclass(view, TenantViewSetMixin), view
            assert view.lookup_value_regex in (
                TenantViewSetMixin.lookup_value_regex,
                TenantViewSetMixin.UUID_LOOKUP_REGEX,
            ), view
            seen += 1
    assert seen > 10


# --- dates and filters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "created_after=1382-03-23T12:32:31-16:53",
        "created_before=0001-01-01T00:00:00%2B14:00",
        "created_after=9999-12-31T23:59:59-14:00",
        "created_after=10000-01-01T00:00:00Z",
        "business_date=0000-01-01",
        "business_date_from=not-a-date",
        "ordering=nope",
        "page=0",
        "page=99999999999999999999",
        "page_size=-1",
        "status=nope",
    ],
)
def test_task_list_filters_out_of_range_are_400_or_ignored(acme, query):
    response = owner(acme).get(f"/api/v1/tasks/?{query}")
    assert response.status_code in (200, 400, 404), response.content
    if response.status_code != 200:
        envelope(response)


def test_task_created_after_with_an_offset_beyond_a_day_is_400(acme):
    response = owner(acme).get("/api/v1/tasks/?created_after=1382-03-23T12:32:31-16:53")
    assert response.status_code == 400
    error = envelope(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert "created_after" in error["details"]["fields"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=0001-01-01&to=0001-01-02", "from"),
        ("from=9999-12-30&to=9999-12-31", "to"),
        ("from=2020-01-01&to=0001-01-01", "to"),
        ("from=0001-01-01&to=2026-01-01", "from"),
    ],
)
def test_dashboard_absurd_dates_are_400_naming_the_field(acme, query, field):
    response = owner(acme).get(f"/api/v1/reports/dashboard/?{query}")
    assert response.status_code == 400, response.content
    error = envelope(response)
    assert field in error["details"]["fields"]


@pytest.mark.parametrize(
    "query",
    ["from=0001-01-01", "to=9999-12-31", "from=0001-01-01&to=0001-01-02", "page=0"],
)
def test_report_lists_refuse_absurd_dates(acme, query):
    for kind in ("daily", "monthly"):
        response = owner(acme).get(f"/api/v1/reports/{kind}/?{query}")
        assert response.status_code in (200, 400, 404), response.content
        if response.status_code != 200:
            envelope(response)


@pytest.mark.parametrize(
    "query",
    [
        "category=99999999999999999999",
        "category=1e400",
        "category=nan",
        "available=maybe",
        "ordering=-nope",
        "search=" + "x" * 500,
        "page_size=1000000000000000000000",
    ],
)
def test_agent_filters_are_bounded(acme, query):
    response = owner(acme).get(f"/api/v1/agents/?{query}")
    assert response.status_code in (200, 400, 404), response.content
    if response.status_code != 200:
        envelope(response)


def test_agent_category_filter_beyond_bigint_is_400(acme):
    response = owner(acme).get("/api/v1/agents/?category=99999999999999999999")
    assert response.status_code == 400
    assert "category" in envelope(response)["details"]["fields"]


@pytest.mark.parametrize("query", ["is_active=maybe", "ordering=nope", "page=abc"])
def test_screen_filters_are_bounded(acme, query):
    response = owner(acme).get(f"/api/v1/screens/?{query}")
    assert response.status_code in (200, 400, 404), response.content
    if response.status_code != 200:
        envelope(response)


@pytest.mark.parametrize(
    "query",
    [
        "after_seq=9223372036854775808",
        "limit=1e9",
        "after_seq=-1",
        "limit=0",
        "after_seq=abc",
    ],
)
def test_task_events_query_is_bounded(acme, query):
    response = owner(acme).get(f"/api/v1/tasks/events/?{query}")
    assert response.status_code == 400, response.content
    assert envelope(response)["code"] == "VALIDATION_ERROR"


# --- JSON bodies -------------------------------------------------------------------------------


def test_deeply_nested_json_is_400_without_a_traceback(client, caplog):
    body = "[" * 200_000 + "]" * 200_000  # 400 KB, past Python's recursion limit
    with caplog.at_level(logging.WARNING):
        response = client.post("/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code == 400
    error = envelope(response)
    assert error["code"] == "MALFORMED_REQUEST"
    assert not [r for r in caplog.records if r.exc_info]


def test_json_nesting_past_the_limit_is_refused(acme):
    from core.parsers import MAX_JSON_DEPTH

    def nested(depth):
        return '{"a":' * depth + "1" + "}" * depth

    client = owner(acme)
    shallow = client.patch(
        "/api/v1/organization/",
        '{"peak_windows": ' + nested(MAX_JSON_DEPTH - 2) + "}",
        content_type="application/json",
    )
    assert shallow.status_code == 400
    assert envelope(shallow)["code"] == "VALIDATION_ERROR"  # parsed, then refused by the field
    deep = client.patch(
        "/api/v1/organization/",
        '{"peak_windows": ' + nested(MAX_JSON_DEPTH) + "}",
        content_type="application/json",
    )
    assert deep.status_code == 400
    error = envelope(deep)
    assert error["code"] == "MALFORMED_REQUEST"
    assert error["details"]["max_depth"] == MAX_JSON_DEPTH


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"email": "a", "password": ',
        b"\xff\xfe\x00",
        b'{"email": NaN, "password": Infinity}',
        b"[" * 40 + b"]" * 39,
    ],
)
def test_malformed_json_is_400(client, body):
    response = client.post("/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code == 400
    assert envelope(response)["code"] == "MALFORMED_REQUEST"


def test_brackets_inside_strings_do_not_count_as_depth(client):
    body = '{"email": "' + "[" * 100 + '@x.test", "password": "x"}'
    response = client.post("/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code in (400, 401)
    assert envelope(response)["code"] != "MALFORMED_REQUEST"
