"""``?search=`` over number, workspace and customer name: matches, index, query count."""

import pytest
from django.db import connection

from tasks.models import Task
from tasks.services import task_create

URL = "/api/v1/tasks/"


def _task(acme, catalog, **fields):
    return task_create(
        user=acme.users["staff"],
        items=[{"agent_id": catalog.noodles.id, "quantity": 1}],
        **fields,
    )


def _ids(acme, **params) -> list[int]:
    response = acme.client("staff").get(URL, params)
    assert response.status_code == 200, response.json()
    return sorted(t["id"] for t in response.json()["results"])


def test_search_matches_number_workspace_and_customer_case_insensitively(acme, catalog):
    a = _task(acme, catalog, workspace="A01", customer_name="Mr. Smith")
    b = _task(acme, catalog, workspace="b07", customer_name="王小明")
    c = _task(acme, catalog, workspace="TERRACE", customer_name="smithers")
    assert _ids(acme, search="smith") == sorted([a.pk, c.pk])
    assert _ids(acme, search="B07") == [b.pk]
    assert _ids(acme, search="小明") == [b.pk]
    assert _ids(acme, search="errac") == [c.pk]
    assert _ids(acme, search=b.number) == [b.pk]
    assert _ids(acme, search=b.number[-3:]) == [b.pk]  # a number's daily sequence
    assert _ids(acme, search="nobody") == []
    assert _ids(acme, search="  ") == sorted([a.pk, b.pk, c.pk])
    # LIKE wildcards are literal characters, not patterns.
    assert _ids(acme, search="%") == [] and _ids(acme, search="_") == []
    # Combined with the other filters.
    assert _ids(acme, search="smith", workspace="A01") == [a.pk]
    too_long = acme.client("staff").get(URL, {"search": "x" * 101})
    assert too_long.status_code == 400
    assert "search" in too_long.json()["error"]["details"]["fields"]


def test_search_query_count_is_constant(acme, catalog, django_assert_num_queries):
    client = acme.client("staff")
    _task(acme, catalog, workspace="Q1", customer_name="Zhang")
    client.get(URL, {"search": "zhang"})  # warm: authentication and per-process caches
    with django_assert_num_queries(_count(client)) as one:
        response = client.get(URL, {"search": "zhang", "page_size": 100})
    assert len(response.json()["results"]) == 1
    for _ in range(29):
        _task(acme, catalog, workspace="Q1", customer_name="Zhang")
    with django_assert_num_queries(len(one.captured_queries)):
        response = client.get(URL, {"search": "zhang", "page_size": 100})
    assert len(response.json()["results"]) == 30


def _count(client) -> int:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(URL, {"search": "zhang", "page_size": 100})
    return len(captured)


def _trigram_available() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        return cursor.fetchone() is not None


def test_search_uses_the_trigram_index(acme, catalog):
    if not _trigram_available():
        pytest.skip("this PostgreSQL has no pg_trgm (the embedded pgserver): no search index")
    _task(acme, catalog, workspace="IDX1")
    queryset = Task.objects.all()
    from tasks.filters import TaskFilter

    filtered = TaskFilter({"search": "idx1"}, queryset=queryset).qs
    sql, params = filtered.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "task_search_trgm" in plan, plan
