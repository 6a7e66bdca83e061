"""Batch create: per-task results, partial failure, the 50-task limit, one Idempotency-Key."""

import psycopg
import pytest

from agents.models import Agent
from events.models import TaskEvent
from tasks.batch import task_create_batch_idempotent
from tasks.idempotency import _lock_id, request_fingerprint
from tasks.models import IdempotencyKey, Task

from .test_idempotency_owner import _dsn

URL = "/api/v1/tasks/batch/"


def _body(catalog, **extra):
    return {"items": [{"agent_id": catalog.noodles.id, "quantity": 1}], **extra}


def test_partial_failure_lists_each_result_and_creates_the_good_ones(acme, catalog):
    tasks = [
        _body(catalog, workspace="A1"),
        {"items": []},  # bad input
        {"items": [{"agent_id": catalog.duck.id, "quantity": 11}]},  # 10 in stock
        "not an object",
        _body(catalog, workspace="A2", priority="rush"),
        {"items": [{"agent_id": 99999999, "quantity": 1}]},
    ]
    response = acme.client("staff").post(URL, {"tasks": tasks}, format="json")
    assert response.status_code == 207, response.json()
    body = response.json()
    assert [r["status"] for r in body["results"]] == [201, 400, 409, 400, 201, 400]
    assert (body["created"], body["failed"]) == (2, 4)
    assert body["results"][1]["error"]["code"] == "VALIDATION_ERROR"
    assert "items" in body["results"][1]["error"]["details"]["fields"]
    assert body["results"][2]["error"]["code"] == "INSUFFICIENT_STOCK"
    assert body["results"][2]["error"]["details"]["agents"][0]["agent_id"] == catalog.duck.id
    assert body["results"][5]["error"]["code"] == "AGENT_NOT_FOUND"
    created = [r["task"] for r in body["results"] if r["status"] == 201]
    assert [t["workspace"] for t in created] == ["A1", "A2"]
    assert created[1]["priority"] == "rush"
    assert sorted(Task.objects.values_list("id", flat=True)) == sorted(t["id"] for t in created)
    assert TaskEvent.objects.filter(type="task.created").count() == 2
    assert Agent.objects.get(pk=catalog.duck.pk).stock == 10


def test_all_created_is_200_and_the_limit_is_50(acme, catalog):
    client = acme.client("staff")
    ok = client.post(URL, {"tasks": [_body(catalog)] * 50}, format="json")
    assert ok.status_code == 200 and ok.json()["created"] == 50
    numbers = [r["task"]["number"] for r in ok.json()["results"]]
    assert len(set(numbers)) == 50
    too_many = client.post(URL, {"tasks": [_body(catalog)] * 51}, format="json")
    assert too_many.status_code == 400
    assert "tasks" in too_many.json()["error"]["details"]["fields"]
    for bad in ({}, {"tasks": []}, {"tasks": {}}, {"tasks": [], "extra": 1}):
        assert client.post(URL, bad, format="json").status_code == 400
    assert Task.objects.count() == 50
    assert acme.client().post(URL, {"tasks": [_body(catalog)]}, format="json").status_code == 401


def test_one_idempotency_key_covers_the_batch(acme, catalog):
    client = acme.client("staff")
    body = {"tasks": [_body(catalog, workspace="K1"), {"items": []}]}
    first = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    assert first.status_code == 207
    again = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    assert again.status_code == 207 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Task.objects.count() == 1
    other = client.post(
        URL, {"tasks": [_body(catalog)]}, format="json", HTTP_IDEMPOTENCY_KEY="batch-1"
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert Task.objects.count() == 1


def test_a_batch_that_died_half_way_is_resumed_not_repeated(acme, catalog):
    user = acme.users["staff"]
    entries = [_body(catalog, workspace=f"R{i}") for i in range(5)]
    fingerprint = request_fingerprint({"tasks": entries})

    def die_after_two(done):
        if done == 2:
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        task_create_batch_idempotent(
            user=user, key="k", fingerprint=fingerprint, entries=entries, on_entry=die_after_two
        )
    assert Task.objects.count() == 2
    record = IdempotencyKey.objects.get(user=user, key="k")
    assert record.response_status is None and len(record.response_body["results"]) == 2
    # While another live session owns the key (holds its lock), a retry is told it is running.
    with psycopg.connect(_dsn(), autocommit=True) as owner:
        owner.execute("SELECT pg_advisory_lock(%s)", [_lock_id(user_id=user.pk, key="k")])
        response = acme.client("staff").post(
            URL, {"tasks": entries}, format="json", HTTP_IDEMPOTENCY_KEY="k"
        )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS"
    # The owner is gone (its session ended): the retry takes over and finishes the three left.
    response = acme.client("staff").post(
        URL, {"tasks": entries}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 200, response.json()
    assert [r["task"]["workspace"] for r in response.json()["results"]] == [
        f"R{i}" for i in range(5)
    ]
    assert Task.objects.count() == 5
    assert sorted(Task.objects.values_list("workspace", flat=True)) == [f"R{i}" for i in range(5)]
