"""Priority (normal | rush): at create, by PATCH, the list and board order, the filter; and the
actor every event carries."""

from datetime import timedelta

from django.utils import timezone

from displays.selectors import task_list_active_for_station
from events.models import TaskEvent
from tasks.models import Task
from tasks.services import task_create, task_expire_stale, task_set_pinned

URL = "/api/v1/tasks/"


def _task(acme, catalog, *, minutes_ago=0, **fields):
    return task_create(
        user=acme.users["staff"],
        items=[{"agent_id": catalog.duck.id, "quantity": 1}],
        now=timezone.now() - timedelta(minutes=minutes_ago),
        **fields,
    )


def test_rush_at_create_through_the_api_and_its_event(acme, catalog):
    client = acme.client("staff")
    body = {"items": [{"agent_id": catalog.duck.id, "quantity": 1}], "priority": "rush"}
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["priority"] == "rush"
    task = Task.objects.get(pk=response.json()["id"])
    assert task.priority == "rush"
    created = TaskEvent.objects.get(task=task, type="task.created")
    assert created.payload["priority"] == "rush"
    staff = acme.users["staff"]
    assert created.actor == {"type": "user", "id": staff.pk, "name": staff.email}
    # Default: normal.
    plain = client.post(URL, {"items": body["items"]}, format="json")
    assert plain.json()["priority"] == "normal"
    bad = client.post(URL, {**body, "priority": "asap"}, format="json")
    assert bad.status_code == 400 and "priority" in bad.json()["error"]["details"]["fields"]


def test_stock_events_of_a_create_carry_the_actor(acme, catalog):
    task_create(user=acme.users["manager"], items=[{"agent_id": catalog.duck.id, "quantity": 7}])
    low = TaskEvent.objects.get(type="agent.low_stock")
    assert low.actor["type"] == "user" and low.actor["id"] == acme.users["manager"].pk


def test_list_and_board_order_pinned_then_rush_then_oldest(acme, catalog):
    oldest = _task(acme, catalog, minutes_ago=30)
    old_rush = _task(acme, catalog, minutes_ago=20, priority="rush")
    newest = _task(acme, catalog, minutes_ago=1)
    new_rush = _task(acme, catalog, minutes_ago=5, priority="rush")
    pinned = _task(acme, catalog, minutes_ago=2)
    task_set_pinned(task_id=pinned.pk, pinned=True)
    expected = [pinned.pk, old_rush.pk, new_rush.pk, oldest.pk, newest.pk]
    results = acme.client("staff").get(URL).json()["results"]
    assert [t["id"] for t in results] == expected
    assert [t.pk for t in task_list_active_for_station(station=[])] == expected
    assert [t.pk for t in task_list_active_for_station(station=[catalog.hot.id])] == expected
    rush = acme.client("staff").get(URL, {"priority": "rush"}).json()["results"]
    assert [t["id"] for t in rush] == [old_rush.pk, new_rush.pk]
    assert acme.client("staff").get(URL, {"priority": "high"}).status_code == 400
    by_priority = acme.client("staff").get(URL, {"ordering": "-priority,created_at"}).json()
    assert [t["id"] for t in by_priority["results"]][:2] == [old_rush.pk, new_rush.pk]


def test_patch_priority_moves_a_card_up(acme, catalog):
    first = _task(acme, catalog, minutes_ago=10)
    second = _task(acme, catalog, minutes_ago=1)
    response = acme.client("staff").patch(f"{URL}{second.pk}/", {"priority": "rush"})
    assert response.status_code == 200 and response.json()["priority"] == "rush"
    ids = [t["id"] for t in acme.client("staff").get(URL).json()["results"]]
    assert ids == [second.pk, first.pk]


def test_the_expiry_job_is_the_system_actor(acme, catalog):
    task = _task(acme, catalog, minutes_ago=45)
    assert task_expire_stale() == 1
    event = TaskEvent.objects.filter(task=task).latest("seq")
    assert event.payload["status"] == "expired"
    assert event.actor == {"type": "system"}
    message = acme.client("staff").get(f"{URL}events/", {"after_seq": event.seq - 1}).json()
    assert message["results"][0]["actor"] == {"type": "system"}
