"""Recall (undo a bump): REST and the screen's WebSocket, window and status refusals."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from displays.tests.conftest import (  # noqa: F401 (fixtures)
    _live_orgs,
    communicator,
    receive_until,
    restore_org,
    rt_a,
    run,
)
from events.models import TaskEvent
from tasks.choices import TaskStatus
from tasks.models import Task
from tasks.services import task_advance, task_create, task_recall

URL = "/api/v1/tasks/"


def _task_at(acme, catalog, status: str) -> Task:
    task = task_create(
        user=acme.users["staff"], items=[{"agent_id": catalog.noodles.id, "quantity": 1}]
    )
    while task.status != status:
        task = task_advance(task_id=task.pk)
    return task


def _recall(acme, task, role="staff"):
    response = acme.client(role).post(f"{URL}{task.pk}/recall/")
    return response


def test_recall_ready_goes_back_in_progress_and_clears_ready_at(acme, catalog):
    task = _task_at(acme, catalog, TaskStatus.READY)
    assert task.ready_at is not None
    response = _recall(acme, task)
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "in_progress" and response.json()["ready_at"] is None
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS and task.ready_at is None
    assert task.started_at is not None  # the start stays: the kitchen did start it
    event = TaskEvent.objects.latest("seq")
    assert event.type == "task.recalled"
    assert event.payload["recall"] == {"from": "ready", "to": "in_progress"}
    assert event.payload["status"] == "in_progress"
    staff = acme.users["staff"]
    assert event.actor == {"type": "user", "id": staff.pk, "name": staff.email}


def test_recall_completed_goes_back_to_ready_and_clears_completed_at(acme, catalog):
    task = _task_at(acme, catalog, TaskStatus.COMPLETED)
    response = _recall(acme, task)
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.status == TaskStatus.READY
    assert task.completed_at is None and task.ready_at is not None
    # Recalled again: back to in_progress (each step within its own window).
    assert _recall(acme, task).json()["status"] == "in_progress"


@pytest.mark.parametrize(
    "status", [TaskStatus.PENDING, TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS]
)
def test_recall_from_other_statuses_is_an_invalid_transition(acme, catalog, status):
    task = _task_at(acme, catalog, status)
    before = TaskEvent.objects.count()
    response = _recall(acme, task)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "INVALID_TRANSITION"
    assert Task.objects.get(pk=task.pk).status == status
    assert TaskEvent.objects.count() == before


def test_recall_from_closed_statuses_is_an_invalid_transition(acme, catalog):
    task = _task_at(acme, catalog, TaskStatus.PENDING)
    acme.client("manager").post(f"{URL}{task.pk}/cancel/", {"reason": "x"}, format="json")
    assert _recall(acme, task).json()["error"]["code"] == "INVALID_TRANSITION"


def test_recall_window_is_the_organizations_recall_minutes(acme, catalog):
    organization = acme.organization
    assert organization.recall_minutes == 10
    task = _task_at(acme, catalog, TaskStatus.COMPLETED)
    # 9 minutes ago: still allowed.
    Task.objects.filter(pk=task.pk).update(completed_at=timezone.now() - timedelta(minutes=9))
    assert _recall(acme, task).status_code == 200
    # Ready for 11 minutes: too late.
    Task.objects.filter(pk=task.pk).update(
        status=TaskStatus.READY, ready_at=timezone.now() - timedelta(minutes=11)
    )
    before = TaskEvent.objects.count()
    response = _recall(acme, task)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "RECALL_WINDOW_PASSED"
    assert error["details"]["recall_minutes"] == 10 and error["details"]["status"] == "ready"
    assert Task.objects.get(pk=task.pk).status == TaskStatus.READY
    assert TaskEvent.objects.count() == before
    # A longer window set by the organization lets it through.
    organization.recall_minutes = 15
    try:
        assert task_recall(task_id=task.pk).status == TaskStatus.IN_PROGRESS
    finally:
        organization.recall_minutes = 10


def test_recall_minutes_is_an_organization_setting(acme, restore_org):  # noqa: F811
    response = acme.client("staff").get("/api/v1/organization/")
    assert response.status_code == 200
    assert response.json()["recall_minutes"] == 10
    changed = acme.client("owner").patch(
        "/api/v1/organization/", {"recall_minutes": 3}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["recall_minutes"] == 3
    acme.organization.refresh_from_db()
    assert acme.organization.recall_minutes == 3


def test_a_screen_recalls_over_the_websocket(rt_a):  # noqa: F811
    screen, _ = rt_a.screen(name="Expo")
    task = rt_a.task(rt_a.soup)
    with rt_a.context():
        for _ in range(4):  # -> completed
            task_advance(task_id=task.pk)

    async def body():
        ticket = await sync_to_async(rt_a.ticket)(screen=screen)
        after = await sync_to_async(rt_a.last_seq)()
        comm = communicator(rt_a.host, f"ticket={ticket}&after_seq={after}")
        connected, _ = await comm.connect()
        assert connected
        assert (await comm.receive_json_from(timeout=5))["type"] == "hello"
        await comm.send_json_to({"type": "recall", "task_id": task.pk, "ref": "r1"})
        messages = await receive_until(comm, lambda m: m["type"] == "task.recalled")
        acks = [m for m in messages if m["type"] == "ack"]
        if not acks:
            acks = (await receive_until(comm, lambda m: m["type"] == "ack"))[-1:]
        assert acks[0]["ref"] == "r1" and acks[0]["task"]["status"] == "ready"
        event = messages[-1]
        assert event["data"]["status"] == "ready"
        assert event["actor"] == {"type": "screen", "id": screen.pk, "name": "Expo"}
        # Recalling a ready task again goes to in_progress; a third time is refused.
        await comm.send_json_to({"type": "recall", "task_id": task.pk, "ref": "r2"})
        await receive_until(comm, lambda m: m.get("ref") == "r2" and m["type"] == "ack")
        await comm.send_json_to({"type": "recall", "task_id": task.pk, "ref": "r3"})
        error = (await receive_until(comm, lambda m: m.get("ref") == "r3"))[-1]
        assert error["type"] == "error" and error["code"] == "INVALID_TRANSITION"
        await comm.disconnect()

    run(body)
    with rt_a.context():
        task.refresh_from_db()
        assert task.status == TaskStatus.IN_PROGRESS and task.ready_at is None
