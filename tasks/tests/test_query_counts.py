"""Exact query counts of the hot paths (create, catalog read, task list), through the API.

A change that adds a query to one of them fails here and has to say why. Counted after one
warm-up request, as a steady server runs them (per-process caches of the organization, the
verified token and the membership filled); ``SET search_path`` and transaction control are not
queries Django counts.
"""

import pytest

from events.models import TaskEvent
from tasks.models import Task

TASKS = "/api/v1/tasks/"
AGENTS = "/api/v1/agents/"

# Create: the agents read (no lock) and the cc_task_create statement. A create whose stock
# crosses a threshold appends each crossing's event (one cc_event_append each).
CREATE_QUERIES = 2
CATALOG_HIT_QUERIES = 0
LIST_QUERIES = 3


@pytest.fixture
def staff(acme, settings):
    # As a server runs (the test settings turn these per-process caches off).
    settings.LOCAL_CACHE_SECONDS = 5
    client = acme.client("staff")
    assert client.get(AGENTS).status_code == 200  # warm-up: per-process caches filled
    return client


def _create(client, catalog, *agents_and_quantities):
    body = {
        "items": [{"agent_id": agent.id, "quantity": q} for agent, q in agents_and_quantities],
        "workspace": "A01",
    }
    response = client.post(TASKS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_is_two_queries(acme, catalog, staff, django_assert_num_queries):
    _create(staff, catalog, (catalog.tea, 1))
    with django_assert_num_queries(CREATE_QUERIES):
        _create(staff, catalog, (catalog.noodles, 2), (catalog.tea, 1))  # unlimited only
    with django_assert_num_queries(CREATE_QUERIES):
        _create(staff, catalog, (catalog.duck, 1), (catalog.juice, 1), (catalog.tea, 1))
    assert Task.objects.count() == 3
    assert TaskEvent.objects.filter(type="task.created").count() == 3


def test_a_threshold_crossing_adds_one_append_per_event(
    acme, catalog, staff, django_assert_num_queries
):
    # The duck: stock 10, threshold 3 (7 -> low); the juice: stock 5 (5 -> sold out).
    with django_assert_num_queries(CREATE_QUERIES + 2):
        _create(staff, catalog, (catalog.duck, 7), (catalog.juice, 5))
    assert list(TaskEvent.objects.order_by("seq").values_list("type", flat=True)) == [
        "task.created",
        "agent.low_stock",
        "agent.sold_out",
    ]


def test_catalog_hit_is_no_query(acme, catalog, staff, django_assert_num_queries):
    first = staff.get(AGENTS)
    with django_assert_num_queries(CATALOG_HIT_QUERIES):
        again = staff.get(AGENTS)
    assert again.status_code == 200 and again.content == first.content
    assert len(again.json()["results"]) == 5


def test_task_list_is_three_queries_whatever_the_page(
    acme, catalog, staff, django_assert_num_queries
):
    for _ in range(4):
        _create(staff, catalog, (catalog.noodles, 1), (catalog.tea, 2))
    for page_size in (2, 4):
        with django_assert_num_queries(LIST_QUERIES):
            body = staff.get(TASKS, {"page_size": page_size}).json()
        assert len(body["results"]) == page_size
        assert all(len(task["items"]) == 2 for task in body["results"])
