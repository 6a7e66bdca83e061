"""The status machine, item completion, pinning and expiry (services and API)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import StockMovement
from events.models import TaskEvent
from tasks.choices import STATUS_TIMESTAMP, TRANSITIONS, TaskStatus
from tasks.errors import InvalidTransition, TaskNotActive
from tasks.models import Task
from tasks.services import (
    task_advance,
    task_create,
    task_expire_stale,
    task_item_set_done,
    task_set_pinned,
    task_transition,
)
from testing.events import assert_events

from .conftest import ledger_ok

URL = "/api/v1/tasks/"


def _task(acme, catalog, *, duck=2, juice=1, created_at=None):
    items = [
        {"agent_id": catalog.noodles.id, "quantity": 1, "notes": ""},
        {"agent_id": catalog.duck.id, "quantity": duck, "notes": ""},
        {"agent_id": catalog.juice.id, "quantity": juice, "notes": ""},
    ]
    return task_create(user=acme.users["staff"], items=items, now=created_at)


def test_every_transition_is_allowed_or_refused_by_the_machine(acme, catalog):
    statuses = list(TaskStatus)
    for from_status in statuses:
        for to_status in statuses:
            task = _task(acme, catalog, duck=1, juice=1)
            Task.objects.filter(pk=task.pk).update(status=from_status)
            if to_status in TRANSITIONS[from_status]:
                expected = (
                    "task.cancelled" if to_status == TaskStatus.CANCELLED else "task.status_changed"
                )
                with assert_events(1, types=[expected]) as events:
                    moved = task_transition(task_id=task.pk, to_status=to_status, reason="r")
                assert moved.status == to_status
                assert getattr(moved, STATUS_TIMESTAMP[to_status]) is not None
                assert events[0]["data"]["status"] == to_status
            else:
                with assert_events(0), pytest.raises(InvalidTransition) as info:
                    task_transition(task_id=task.pk, to_status=to_status, reason="r")
                assert info.value.details == {"from": from_status, "to": to_status}
                assert Task.objects.get(pk=task.pk).status == from_status
            # Give the stock back between rounds so the catalog never runs dry.
            Task.objects.filter(pk=task.pk).update(status=TaskStatus.PENDING)
            if to_status not in (TaskStatus.CANCELLED, TaskStatus.EXPIRED) or (
                to_status not in TRANSITIONS[from_status]
            ):
                task_transition(task_id=task.pk, to_status=TaskStatus.CANCELLED, reason="reset")
    assert ledger_ok(catalog.duck) and catalog.duck.stock == 10
    assert ledger_ok(catalog.juice) and catalog.juice.stock == 5


def test_cancel_restores_stock_and_needs_a_reason(acme, catalog):
    task = _task(acme, catalog, duck=4, juice=5)
    catalog.duck.refresh_from_db()
    assert catalog.duck.stock == 6
    for reason in ("", "   "):
        with pytest.raises(Exception) as info:
            task_transition(task_id=task.pk, to_status=TaskStatus.CANCELLED, reason=reason)
        assert info.value.details["fields"] == {
            "reason": [info.value.details["fields"]["reason"][0]]
        }
    task = task_transition(
        task_id=task.pk, to_status=TaskStatus.CANCELLED, reason="customer left", user=None
    )
    assert task.cancel_reason == "customer left" and task.cancelled_at is not None
    assert ledger_ok(catalog.duck) and catalog.duck.stock == 10
    assert ledger_ok(catalog.juice) and catalog.juice.stock == 5
    back = StockMovement.objects.filter(task_id=task.pk, reason="cancel")
    assert sorted(back.values_list("delta", flat=True)) == [4, 5]
    # Cancelling twice is refused and gives nothing back again.
    with pytest.raises(InvalidTransition):
        task_transition(task_id=task.pk, to_status=TaskStatus.CANCELLED, reason="again")
    assert ledger_ok(catalog.duck) and catalog.duck.stock == 10


def test_advance_walks_the_happy_path_then_refuses(acme, catalog):
    task = _task(acme, catalog)
    seen = []
    with assert_events(4, types=["task.status_changed"] * 4) as events:
        for _ in range(4):
            task = task_advance(task_id=task.pk)
            seen.append(task.status)
    assert {event["data"]["id"] for event in events} == {task.pk}
    assert seen == ["accepted", "in_progress", "ready", "completed"]
    assert all((task.accepted_at, task.started_at, task.ready_at, task.completed_at))
    with pytest.raises(InvalidTransition) as info:
        task_advance(task_id=task.pk)
    assert info.value.details == {"from": "completed", "to": None}


def test_marking_every_item_done_makes_the_task_ready(acme, catalog):
    task = _task(acme, catalog)
    items = list(task.items.order_by("id"))
    task = task_item_set_done(task_id=task.pk, item_id=items[0].id, done=True)
    # Work has started: pending moved on to in_progress, stamping both steps.
    assert task.status == "in_progress" and task.accepted_at and task.started_at
    task = task_item_set_done(task_id=task.pk, item_id=items[1].id, done=True)
    task = task_item_set_done(task_id=task.pk, item_id=items[1].id, done=False)
    assert task.status == "in_progress"
    task = task_item_set_done(task_id=task.pk, item_id=items[1].id, done=True)
    with assert_events(1, types=["task.status_changed"]) as events:
        task = task_item_set_done(task_id=task.pk, item_id=items[2].id, done=True)
    assert task.status == "ready" and task.ready_at is not None
    assert events[0]["data"]["status"] == "ready"
    assert all(item["done"] for item in events[0]["data"]["items"])
    # A repeated tap on a done item is harmless; undoing an item of a ready task is refused.
    with assert_events(0):
        assert task_item_set_done(task_id=task.pk, item_id=items[0].id, done=True).status == "ready"
    with pytest.raises(TaskNotActive):
        task_item_set_done(task_id=task.pk, item_id=items[0].id, done=False)


def test_item_of_another_task_is_a_404(acme, catalog):
    first, second = _task(acme, catalog, duck=1), _task(acme, catalog, duck=1)
    from core.exceptions import NotFoundError

    with pytest.raises(NotFoundError):
        task_item_set_done(task_id=first.pk, item_id=second.items.first().id)


def test_pin_and_unpin_emit_task_updated(acme, catalog):
    task = _task(acme, catalog)
    with assert_events(2, types=["task.updated", "task.updated"]) as events:
        assert task_set_pinned(task_id=task.pk, pinned=True).pinned is True
        assert task_set_pinned(task_id=task.pk, pinned=True).pinned is True  # no change, no event
        assert task_set_pinned(task_id=task.pk, pinned=False).pinned is False
    assert [e["data"]["pinned"] for e in events] == [True, False]


def test_expiry_expires_only_stale_pending_tasks_and_restores_stock(acme, catalog):
    now = timezone.now()
    old = _task(acme, catalog, duck=3, juice=2, created_at=now - timedelta(minutes=31))
    fresh = _task(acme, catalog, duck=1, juice=1, created_at=now - timedelta(minutes=29))
    accepted = _task(acme, catalog, duck=1, juice=1, created_at=now - timedelta(hours=2))
    task_advance(task_id=accepted.pk)
    with assert_events(1, types=["task.status_changed"]) as events:
        assert task_expire_stale(now=now) == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == "expired" and old.expired_at == now
    assert fresh.status == "pending"
    assert Task.objects.get(pk=accepted.pk).status == "accepted"
    assert sorted(
        StockMovement.objects.filter(task_id=old.pk, reason="expire").values_list(
            "delta", flat=True
        )
    ) == [2, 3]
    assert ledger_ok(catalog.duck) and catalog.duck.stock == 8
    assert ledger_ok(catalog.juice) and catalog.juice.stock == 3
    assert events[0]["data"]["id"] == old.pk and events[0]["data"]["status"] == "expired"
    with assert_events(0):
        assert task_expire_stale(now=now) == 0


def test_expiry_uses_the_organization_setting(acme, catalog):
    task = _task(acme, catalog, created_at=timezone.now() - timedelta(minutes=11))
    original = acme.organization.task_expiry_minutes
    acme.organization.task_expiry_minutes = 10
    try:
        assert task_expire_stale() == 1
    finally:
        acme.organization.task_expiry_minutes = original
    assert Task.objects.get(pk=task.pk).status == "expired"


# --- API ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, role, status",
    [
        ("accept", "staff", "accepted"),
        ("cancel", "manager", "cancelled"),
    ],
)
def test_action_happy_path(acme, catalog, path, role, status):
    task = _task(acme, catalog)
    body = {"reason": "kitchen closed"} if path == "cancel" else None
    response = acme.client(role).post(f"{URL}{task.pk}/{path}/", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == status


def test_actions_walk_the_machine_over_http(acme, catalog):
    task = _task(acme, catalog)
    client = acme.client("staff")
    for path, status in [
        ("accept", "accepted"),
        ("start", "in_progress"),
        ("ready", "ready"),
        ("complete", "completed"),
    ]:
        response = client.post(f"{URL}{task.pk}/{path}/")
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == status
    response = client.post(f"{URL}{task.pk}/accept/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "INVALID_TRANSITION"
    assert error["details"] == {"from": "completed", "to": "accepted"}


def test_cancel_over_http_needs_manager_and_reason(acme, catalog):
    task = _task(acme, catalog)
    url = f"{URL}{task.pk}/cancel/"
    assert acme.client("staff").post(url, {"reason": "x"}, format="json").status_code == 403
    for body in ({}, {"reason": ""}, {"reason": "x" * 201}, {"reason": "ok", "extra": 1}):
        response = acme.client("manager").post(url, body, format="json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    response = acme.client("manager").post(url, {"reason": "   "}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["error"]["details"]["fields"]
    assert Task.objects.get(pk=task.pk).status == "pending"
    response = acme.client("owner").post(url, {"reason": "no show"}, format="json")
    assert response.status_code == 200
    assert response.json()["cancel_reason"] == "no show"
    assert ledger_ok(catalog.duck) and catalog.duck.stock == 10


def test_pin_unpin_and_item_done_over_http(acme, catalog):
    task = _task(acme, catalog)
    client = acme.client("staff")
    assert client.post(f"{URL}{task.pk}/pin/").json()["pinned"] is True
    assert client.post(f"{URL}{task.pk}/unpin/").json()["pinned"] is False
    assert client.post(f"{URL}{task.pk}/pin/", {"x": 1}, format="json").status_code == 400
    item_ids = list(task.items.order_by("id").values_list("id", flat=True))
    for item_id in item_ids:
        response = client.patch(f"{URL}{task.pk}/items/{item_id}/", {"done": True}, format="json")
        assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ready"
    bad = [{}, {"done": "maybe"}, {"done": None}, {"done": True, "extra": 1}]
    for body in bad:
        response = client.patch(f"{URL}{task.pk}/items/{item_ids[0]}/", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert (
        client.patch(f"{URL}{task.pk}/items/999999/", {"done": True}, format="json").status_code
        == 404
    )
    response = client.patch(f"{URL}{task.pk}/items/{item_ids[0]}/", {"done": False}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "TASK_NOT_ACTIVE"


ACTIONS = [
    ("post", "accept", None),
    ("post", "start", None),
    ("post", "ready", None),
    ("post", "complete", None),
    ("post", "pin", None),
    ("post", "unpin", None),
    ("post", "cancel", {"reason": "r"}),
    ("patch", "items/{item}", {"done": True}),
    ("get", "", None),
]


@pytest.mark.parametrize("method, path, body", ACTIONS)
def test_actions_anonymous_401_and_other_org_404(acme, globex, catalog, method, path, body):
    task = _task(acme, catalog)
    item = task.items.first().id
    url = f"{URL}{task.pk}/" + (f"{path.format(item=item)}/" if path else "")
    with assert_events(0):
        response = getattr(acme.client(), method)(url, body, format="json")
        assert response.status_code == 401
        # globex has no such task: 404 in the envelope, never acme's data.
        response = getattr(globex.client("owner"), method)(url, body, format="json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert Task.objects.get(pk=task.pk).status == "pending"
    assert TaskEvent.objects.filter(task=task).count() == 1


def test_missing_task_is_a_404(acme, catalog):
    assert acme.client("staff").post(f"{URL}987654/accept/").status_code == 404
    assert acme.client("staff").get(f"{URL}987654/").status_code == 404
    assert acme.client("staff").get(f"{URL}abc/").status_code == 404
    huge = 10**20
    assert acme.client("staff").get(f"{URL}{huge}/").status_code == 404
    assert acme.client("staff").post(f"{URL}{huge}/accept/").status_code == 404
