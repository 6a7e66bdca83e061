"""Task list (filters, ordering, query counts), detail, and the event log endpoint."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events.models import TaskEvent
from tasks.models import Task
from tasks.services import task_advance, task_create, task_set_pinned

URL = "/api/v1/tasks/"


def _tasks(acme, catalog, n, **kwargs):
    items = [
        {"agent_id": catalog.noodles.id, "quantity": 1, "notes": ""},
        {"agent_id": catalog.tea.id, "quantity": 2, "notes": ""},
    ]
    return [task_create(user=acme.users["staff"], items=items, **kwargs) for _ in range(n)]


def test_list_is_paginated_with_items_pinned_first(acme, catalog):
    tasks = _tasks(acme, catalog, 4)
    task_set_pinned(task_id=tasks[0].pk, pinned=True)
    body = acme.client("staff").get(URL).json()
    assert body["count"] == 4 and body["next"] is None
    ids = [t["id"] for t in body["results"]]
    # Pinned first, then (no rush here) the longest waiting first.
    assert ids == [tasks[0].pk, tasks[1].pk, tasks[2].pk, tasks[3].pk]
    assert len(body["results"][0]["items"]) == 2
    page = acme.client("staff").get(URL, {"page_size": 2, "page": 2}).json()
    assert [t["id"] for t in page["results"]] == ids[2:]


def test_list_filters(acme, catalog):
    now = timezone.now()
    old = _tasks(acme, catalog, 1, now=now - timedelta(days=2), workspace="B02")[0]
    tasks = _tasks(acme, catalog, 3, workspace="A01")
    task_advance(task_id=tasks[0].pk)
    task_advance(task_id=tasks[1].pk)
    task_advance(task_id=tasks[1].pk)
    task_set_pinned(task_id=tasks[2].pk, pinned=True)
    client = acme.client("staff")

    def ids(**params):
        response = client.get(URL, params)
        assert response.status_code == 200, response.json()
        return sorted(t["id"] for t in response.json()["results"])

    assert ids(status="accepted") == [tasks[0].pk]
    assert ids(status=["accepted", "in_progress"]) == sorted([tasks[0].pk, tasks[1].pk])
    assert ids(status="pending") == sorted([old.pk, tasks[2].pk])
    assert ids(workspace="B02") == [old.pk]
    assert ids(pinned="true") == [tasks[2].pk]
    assert ids(business_date=old.business_date.isoformat()) == [old.pk]
    assert ids(business_date_from=tasks[0].business_date.isoformat()) == sorted(t.pk for t in tasks)
    assert ids(created_before=(now - timedelta(days=1)).isoformat()) == [old.pk]
    assert ids(created_after=(now - timedelta(hours=1)).isoformat()) == sorted(t.pk for t in tasks)
    ordered = client.get(URL, {"ordering": "created_at"}).json()["results"]
    assert ordered[0]["id"] == old.pk


def test_list_bad_filters_are_400(acme, catalog):
    client = acme.client("staff")
    for params, field in [
        ({"status": "lost"}, "status"),
        ({"business_date": "yesterday"}, "business_date"),
        ({"created_after": "not-a-time"}, "created_after"),
        ({"pinned": "maybe"}, "pinned"),
    ]:
        response = client.get(URL, params)
        assert response.status_code == 400, params
        assert field in response.json()["error"]["details"]["fields"]


def _list_queries(client, page_size) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(URL, {"page_size": page_size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size
    return len(captured)


def test_list_query_count_does_not_grow_with_page_size(
    acme, catalog, django_assert_max_num_queries
):
    _tasks(acme, catalog, 30)
    client = acme.client("staff")
    small = _list_queries(client, 3)
    large = _list_queries(client, 30)
    assert small == large
    with django_assert_max_num_queries(7):
        client.get(URL, {"page_size": 30})


def test_detail_includes_items(acme, catalog):
    task = _tasks(acme, catalog, 1)[0]
    response = acme.client("staff").get(f"{URL}{task.pk}/")
    assert response.status_code == 200
    assert response.json()["number"] == task.number
    assert [i["quantity"] for i in response.json()["items"]] == [1, 2]


def test_read_permissions(acme, globex, catalog):
    task = _tasks(acme, catalog, 1)[0]
    for url in (URL, f"{URL}{task.pk}/", f"{URL}events/"):
        assert acme.client().get(url).status_code == 401
        for role in ("staff", "manager", "owner"):
            assert acme.client(role).get(url).status_code == 200
    # Other organization: its own (empty) list, and a 404 for acme's task.
    assert globex.client("owner").get(URL).json()["count"] == 0
    assert globex.client("owner").get(f"{URL}{task.pk}/").status_code == 404
    assert globex.client("owner").get(f"{URL}events/").json()["results"] == []


def test_event_log_pages_by_seq(acme, catalog, django_assert_max_num_queries):
    tasks = _tasks(acme, catalog, 3)
    task_advance(task_id=tasks[0].pk)
    seqs = list(TaskEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert len(seqs) == 4
    client = acme.client("staff")
    first = client.get(f"{URL}events/", {"after_seq": 0, "limit": 3}).json()
    assert [e["seq"] for e in first["results"]] == seqs[:3]
    assert first["has_more"] is True and first["next_after_seq"] == seqs[2]
    event = first["results"][0]
    assert event["type"] == "task.created"
    assert event["data"]["id"] == tasks[0].pk
    assert event["category_ids"] == sorted([catalog.hot.id, catalog.drinks.id])
    rest = client.get(f"{URL}events/", {"after_seq": first["next_after_seq"]}).json()
    assert [e["seq"] for e in rest["results"]] == seqs[3:]
    assert rest["results"][0]["type"] == "task.status_changed"
    assert rest["has_more"] is False
    done = client.get(f"{URL}events/", {"after_seq": seqs[-1]}).json()
    assert done == {"results": [], "next_after_seq": seqs[-1], "has_more": False}
    with django_assert_max_num_queries(5):
        client.get(f"{URL}events/", {"limit": 500})
    for params in ({"after_seq": -1}, {"after_seq": "x"}, {"limit": 0}, {"limit": 501}):
        response = client.get(f"{URL}events/", params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_schema_documents_the_task_endpoints(acme):
    response = acme.client("staff").get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = (
        response.json()["paths"]
        if response["Content-Type"].startswith("application/json")
        else None
    )
    if paths is None:  # YAML by default
        text = response.content.decode()
        for path in ("/api/v1/tasks/", "/api/v1/tasks/{id}/cancel/", "/api/v1/tasks/events/"):
            assert f"{path}:" in text
        assert "/api/v1/tasks/{id}/items/{item_id}/:" in text
    else:
        assert "/api/v1/tasks/events/" in paths


def test_task_ordering_model_default_matches_api(acme, catalog):
    assert Task._meta.ordering == ["-pinned", "-priority", "created_at", "id"]
