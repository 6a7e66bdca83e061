"""Edits of a pending/accepted task (PATCH): fields, items through the stock ledger, locks.

The concurrency tests run real threads against PostgreSQL through the HTTP layer (committed
data, no test transaction), as tests/test_concurrency.py does.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from django.db import connection

from agents.models import Agent, StockMovement
from events.models import TaskEvent
from tasks.models import Task, TaskItem
from tasks.services import task_advance, task_create
from testing.factories import agent_make, catalog_make

from .conftest import counts, ledger_ok

URL = "/api/v1/tasks/"


def _task(acme, catalog, *, duck=2, juice=1, discount="0.00"):
    items = [
        {"agent_id": catalog.noodles.id, "quantity": 1, "notes": ""},
        {"agent_id": catalog.duck.id, "quantity": duck, "notes": ""},
        {"agent_id": catalog.juice.id, "quantity": juice, "notes": ""},
    ]
    return task_create(user=acme.users["staff"], items=items, discount=Decimal(discount))


def _lines(task) -> dict[int, TaskItem]:
    return {item.agent_id: item for item in TaskItem.objects.filter(task=task)}


def test_staff_edits_fields_with_one_event_carrying_the_changes(acme, catalog):
    task = _task(acme, catalog)
    before = TaskEvent.objects.count()
    body = {"workspace": "C09", "customer_name": "王先生", "notes": "no MSG", "priority": "rush"}
    response = acme.client("staff").patch(f"{URL}{task.pk}/", body, format="json")
    assert response.status_code == 200, response.json()
    assert {k: response.json()[k] for k in body} == body
    task.refresh_from_db()
    assert (task.workspace, task.customer_name, task.priority) == ("C09", "王先生", "rush")
    assert TaskEvent.objects.count() == before + 1
    event = TaskEvent.objects.latest("seq")
    assert event.type == "task.updated"
    assert event.payload["changes"]["fields"]["workspace"] == ["", "C09"]
    assert event.payload["changes"]["fields"]["priority"] == ["normal", "rush"]
    assert event.payload["changes"]["added"] == event.payload["changes"]["removed"] == []
    staff = acme.users["staff"]
    assert event.actor == {"type": "user", "id": staff.pk, "name": staff.email}
    # The same values again change nothing: no event.
    again = acme.client("staff").patch(f"{URL}{task.pk}/", body, format="json")
    assert again.status_code == 200 and TaskEvent.objects.count() == before + 1


def test_staff_may_not_change_items_and_nothing_is_written(acme, catalog):
    task = _task(acme, catalog)
    before = counts()
    line = _lines(task)[catalog.duck.id]
    response = acme.client("staff").patch(
        f"{URL}{task.pk}/",
        {"items": [{"id": line.id, "quantity": 1}], "workspace": "Z1"},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert counts() == before
    task.refresh_from_db()
    assert task.workspace == "" and TaskItem.objects.filter(task=task).count() == 3


def test_manager_adds_removes_and_changes_lines_through_the_ledger(acme, catalog):
    task = _task(acme, catalog, duck=2, juice=1)  # duck 10 -> 8, juice 5 -> 4
    lines = _lines(task)
    events_before = TaskEvent.objects.count()
    body = {
        "items": [
            {"id": lines[catalog.noodles.id].id, "quantity": 1},  # kept as it is
            {"id": lines[catalog.duck.id].id, "quantity": 5, "notes": "crispy"},  # 2 -> 5
            # juice line left out: removed (1 back)
            {"agent_id": catalog.tea.id, "quantity": 2, "notes": "hot"},  # added (unlimited)
            {"agent_id": catalog.juice.id, "quantity": 3},  # added again as a new line
        ]
    }
    response = acme.client("manager").patch(f"{URL}{task.pk}/", body, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    quantities = sorted((i["agent_name"], i["quantity"]) for i in data["items"])
    assert quantities == [
        ("Beef noodles", 1),
        ("Jasmine tea", 2),
        ("Orange juice", 3),
        ("Peking duck", 5),
    ]
    # 32 + 5 x 128 + 2 x 12.50 + 3 x 22
    assert data["subtotal"] == "763.00" and data["total"] == "763.00"
    added = [i for i in data["items"] if i["added_at"] is not None]
    assert sorted(i["agent_name"] for i in added) == ["Jasmine tea", "Orange juice"]
    catalog.duck.refresh_from_db()
    catalog.juice.refresh_from_db()
    assert catalog.duck.stock == 5 and catalog.juice.stock == 2  # 10-2-3, 5-1+1-3
    assert ledger_ok(catalog.duck) and ledger_ok(catalog.juice)
    movements = list(
        StockMovement.objects.filter(task_id=task.pk)
        .order_by("id")
        .values_list("agent_id", "delta", "reason")
    )
    assert (catalog.duck.id, -3, "task") in movements
    assert (catalog.juice.id, -2, "task") in movements  # net of the removed 1 and the added 3
    # One task.updated (plus the low-stock crossing of the duck: 8 -> 5 does not cross 3).
    new_events = list(TaskEvent.objects.filter(seq__gt=0).order_by("seq"))[events_before:]
    assert [e.type for e in new_events] == ["task.updated"]
    changes = new_events[0].payload["changes"]
    assert [i["agent_name"] for i in changes["removed"]] == ["Orange juice"]
    assert sorted(i["agent_name"] for i in changes["added"]) == ["Jasmine tea", "Orange juice"]
    assert changes["changed"] == [
        {
            "id": lines[catalog.duck.id].id,
            "agent_id": catalog.duck.id,
            "agent_name": "Peking duck",
            "quantity": [2, 5],
            "notes": ["", "crispy"],
        }
    ]
    assert new_events[0].payload["items"] == data["items"]
    # Cancel gives back exactly what the task holds now (the ledger's net).
    cancel = acme.client("manager").post(f"{URL}{task.pk}/cancel/", {"reason": "x"}, format="json")
    assert cancel.status_code == 200
    catalog.duck.refresh_from_db()
    catalog.juice.refresh_from_db()
    assert (catalog.duck.stock, catalog.juice.stock) == (10, 5)
    assert ledger_ok(catalog.duck) and ledger_ok(catalog.juice)


def test_removing_a_line_gives_back_only_what_the_task_took(acme, catalog):
    # The noodles were unlimited when ordered, limited since: removing them gives nothing back.
    task = _task(acme, catalog)
    Agent.objects.filter(pk=catalog.noodles.pk).update(stock=4)
    StockMovement.objects.create(agent=catalog.noodles, delta=4, reason="initial", stock_after=4)
    keep = [
        {"id": line.id, "quantity": line.quantity}
        for agent_id, line in _lines(task).items()
        if agent_id != catalog.noodles.id
    ]
    response = acme.client("manager").patch(f"{URL}{task.pk}/", {"items": keep}, format="json")
    assert response.status_code == 200, response.json()
    assert Agent.objects.get(pk=catalog.noodles.pk).stock == 4
    assert ledger_ok(catalog.noodles)


def test_insufficient_stock_names_the_agents_and_writes_nothing(acme, catalog):
    task = _task(acme, catalog, duck=2, juice=1)
    lines = _lines(task)
    before = counts()
    body = {
        "items": [
            {"id": lines[catalog.duck.id].id, "quantity": 11},  # needs 9 more, 8 left
            {"id": lines[catalog.juice.id].id, "quantity": 6},  # needs 5 more, 4 left
        ]
    }
    response = acme.client("owner").patch(f"{URL}{task.pk}/", body, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "INSUFFICIENT_STOCK"
    assert error["details"]["agents"] == [
        {"agent_id": catalog.duck.id, "name": "Peking duck", "requested": 9, "available": 8},
        {"agent_id": catalog.juice.id, "name": "Orange juice", "requested": 5, "available": 4},
    ]
    assert counts() == before
    assert {i.agent_id: i.quantity for i in TaskItem.objects.filter(task=task)} == {
        catalog.noodles.id: 1,
        catalog.duck.id: 2,
        catalog.juice.id: 1,
    }


def test_edit_refusals(acme, catalog):
    task = _task(acme, catalog, discount="150.00")  # subtotal 32 + 256 + 22 = 310
    lines = _lines(task)
    client = acme.client("manager")

    def patch(body, task_id=task.pk):
        response = client.patch(f"{URL}{task_id}/", body, format="json")
        return response.status_code, response.json()

    # The discount must still fit the new subtotal (32 + 22 = 54 < 150).
    status, body = patch({"items": [{"id": lines[catalog.noodles.id].id, "quantity": 1}]})
    assert status == 400 and "items" in body["error"]["details"]["fields"]
    status, body = patch({"items": []})
    assert status == 400
    status, body = patch({"items": [{"id": 999999, "quantity": 1}]})
    assert status == 400 and "items" in body["error"]["details"]["fields"]
    status, body = patch({"items": [{"agent_id": 999999, "quantity": 1}]})
    assert status == 400 and body["error"]["code"] == "AGENT_NOT_FOUND"
    status, body = patch({"items": [{"agent_id": catalog.seasonal.id, "quantity": 1}]})
    assert status == 409 and body["error"]["code"] == "AGENT_UNAVAILABLE"
    status, body = patch(
        {"items": [{"id": lines[catalog.duck.id].id, "agent_id": 1, "quantity": 1}]}
    )
    assert status == 400
    status, body = patch({"priority": "urgent"})
    assert status == 400 and "priority" in body["error"]["details"]["fields"]
    status, body = patch({"status": "ready"})
    assert status == 400 and "status" in body["error"]["details"]["fields"]
    assert client.put(f"{URL}{task.pk}/", {}, format="json").status_code == 405
    # From in_progress on the task is locked: items and fields alike.
    task_advance(task_id=task.pk)
    task_advance(task_id=task.pk)
    status, body = patch({"items": [{"id": lines[catalog.duck.id].id, "quantity": 1}]})
    assert status == 409 and body["error"]["code"] == "TASK_LOCKED"
    assert body["error"]["details"]["status"] == "in_progress"
    status, body = patch({"workspace": "B1"})
    assert status == 409 and body["error"]["code"] == "TASK_LOCKED"
    assert Task.objects.get(pk=task.pk).subtotal == Decimal("310.00")
    # Another organization's task is a 404.
    assert (
        acme.client("manager").patch(f"{URL}99999999/", {"notes": "x"}, format="json").status_code
        == 404
    )


# --- real concurrency ----------------------------------------------------------------------


def _parallel(*calls):
    """Run the callables together (a barrier), each on its own connection; their results."""
    barrier = threading.Barrier(len(calls))

    def wrap(fn):
        try:
            barrier.wait(timeout=30)
            return fn()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(wrap, fn) for fn in calls]
        return [future.result() for future in futures]


def test_an_edit_racing_creates_for_the_last_units_never_oversells(committed_org):
    catalog = catalog_make()
    manager = committed_org.client("manager")
    creators = [committed_org.client("staff") for _ in range(3)]
    for client in [manager, *creators]:
        client.get("/health/")
    outcomes = set()
    for round_number in range(6):
        wok = agent_make(name=f"Wok {round_number}", category=catalog.hot, price="58.00", stock=6)
        task = task_create(
            user=committed_org.users["staff"], items=[{"agent_id": wok.id, "quantity": 2}]
        )
        line = TaskItem.objects.get(task=task)
        body = {"items": [{"agent_id": wok.id, "quantity": 2}]}

        # 4 units left: the edit wants 3 more, each create wants 2.
        def edit(line=line, task=task):
            url = f"{URL}{task.pk}/"
            return manager.patch(url, {"items": [{"id": line.id, "quantity": 5}]}, format="json")

        creates = [lambda c=c, body=body: c.post(URL, body, format="json") for c in creators]
        responses = _parallel(edit, *creates)
        statuses = [r.status_code for r in responses]
        assert statuses[0] in (200, 409) and set(statuses[1:]) <= {201, 409}, statuses
        errors = [r.json()["error"]["code"] for r in responses if r.status_code == 409]
        assert set(errors) <= {"INSUFFICIENT_STOCK"}
        wok.refresh_from_db()
        assert wok.stock >= 0 and ledger_ok(wok)
        ordered = sum(TaskItem.objects.filter(agent=wok).values_list("quantity", flat=True))
        assert ordered + wok.stock == 6  # nothing oversold, nothing lost
        line.refresh_from_db()
        assert line.quantity == (5 if statuses[0] == 200 else 2)
        outcomes.add(statuses[0])
    assert outcomes  # the edit won some rounds and/or lost some: both are checked above


def test_edits_racing_cancels_keep_the_ledger_identity(committed_org):
    catalog = catalog_make()
    a = agent_make(name="A", category=catalog.hot, price="10.00", stock=500)
    b = agent_make(name="B", category=catalog.drinks, price="20.00", stock=500)
    staff = committed_org.users["staff"]
    tasks = [
        task_create(
            user=staff,
            items=[{"agent_id": a.id, "quantity": 2}, {"agent_id": b.id, "quantity": 1}],
        )
        for _ in range(12)
    ]
    lines = {t.pk: {i.agent_id: i.id for i in TaskItem.objects.filter(task=t)} for t in tasks}
    editors = [committed_org.client("manager") for _ in range(len(tasks))]
    cancellers = [committed_org.client("manager") for _ in range(len(tasks))]
    for client in [*editors, *cancellers]:
        client.get("/health/")

    def edit(index):
        task = tasks[index]
        body = {  # b first, a second: lock order is by id, whatever the request's order
            "items": [
                {"id": lines[task.pk][b.id], "quantity": 4},
                {"id": lines[task.pk][a.id], "quantity": 1},
                {"agent_id": a.id, "quantity": 3},
            ]
        }
        return editors[index].patch(f"{URL}{task.pk}/", body, format="json").status_code

    def cancel(index):
        return (
            cancellers[index]
            .post(f"{URL}{tasks[index].pk}/cancel/", {"reason": "race"}, format="json")
            .status_code
        )

    calls = [lambda i=i: edit(i) for i in range(len(tasks))]
    calls += [lambda i=i: cancel(i) for i in range(len(tasks))]
    results = _parallel(*calls)
    edits, cancels = results[: len(tasks)], results[len(tasks) :]
    assert cancels == [200] * len(tasks)
    assert set(edits) <= {200, 409}
    for agent in (a, b):
        assert ledger_ok(agent)
        assert agent.stock == 500  # every task was cancelled: everything came back
    assert Task.objects.filter(status="cancelled").count() == len(tasks)
