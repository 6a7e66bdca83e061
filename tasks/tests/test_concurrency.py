"""Real threads against PostgreSQL through the HTTP layer (committed data, no test transaction).

Each thread has its own API client and database connection, closed when the thread is done.
"""

import re
import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connection

from agents.models import Agent, StockMovement
from events.models import TaskEvent
from tasks.models import DailySequence, Task
from tasks.services import task_number
from testing.factories import agent_make, catalog_make

URL = "/api/v1/tasks/"
THREADS = 20
NUMBER = re.compile(r"^\d{8}\d{3,}$")


def _warm_up(clients) -> None:
    # Each test client builds its middleware chain on first use, and django-prometheus creates
    # its metrics singleton without a lock: build them here, one at a time.
    for client in clients:
        client.get("/health/")


def _run(org, bodies: list[dict], *, role="staff", headers=None) -> list:
    """POST every body with THREADS threads started together; [(status, json), ...]."""
    chunks = [bodies[i::THREADS] for i in range(THREADS)]
    clients = [org.client(role) for _ in range(THREADS)]
    _warm_up(clients)
    barrier = threading.Barrier(THREADS)

    def worker(index: int) -> list:
        results = []
        try:
            barrier.wait(timeout=30)
            for body in chunks[index]:
                response = clients[index].post(URL, body, format="json", **(headers or {}))
                results.append((response.status_code, response.json()))
        finally:
            connection.close()
        return results

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(worker, i) for i in range(THREADS)]
        return [result for future in futures for result in future.result()]


def test_200_concurrent_creates_sell_exactly_the_stock(committed_org):
    catalog = catalog_make()
    wok = agent_make(name="Wok special", category=catalog.hot, price="58.00", stock=50)
    body = {
        "items": [{"agent_id": wok.id, "quantity": 1}, {"agent_id": catalog.tea.id, "quantity": 1}]
    }
    results = _run(committed_org, [body] * 200)
    statuses = [status for status, _ in results]
    assert statuses.count(201) == 50, sorted(set(statuses))
    assert statuses.count(409) == 150
    assert {b["error"]["code"] for s, b in results if s == 409} == {"INSUFFICIENT_STOCK"}
    wok.refresh_from_db()
    assert wok.stock == 0
    deltas = list(StockMovement.objects.filter(agent=wok).values_list("delta", flat=True))
    assert sum(deltas) == wok.stock and len(deltas) == 51
    assert min(StockMovement.objects.filter(agent=wok).values_list("stock_after", flat=True)) == 0
    assert Task.objects.count() == 50
    assert TaskEvent.objects.filter(type="task.created").count() == 50
    assert TaskEvent.objects.filter(type="agent.sold_out").count() == 1


def test_200_concurrent_creates_get_distinct_well_formed_numbers(committed_org):
    catalog = catalog_make()
    body = {"items": [{"agent_id": catalog.noodles.id, "quantity": 1}]}
    results = _run(committed_org, [body] * 200)
    assert [s for s, _ in results].count(201) == 200
    numbers = [b["number"] for _, b in results]
    assert len(set(numbers)) == 200
    assert all(NUMBER.match(n) for n in numbers)
    day = Task.objects.values_list("business_date", flat=True).distinct().get()
    assert sorted(numbers) == [task_number(day, i) for i in range(1, 201)]
    assert DailySequence.objects.get(business_date=day).last_value == 200
    # Event seq is gap-free and unique too.
    seqs = sorted(TaskEvent.objects.values_list("seq", flat=True))
    assert seqs == list(range(seqs[0], seqs[0] + 200))


def test_10_concurrent_creates_with_one_idempotency_key_make_one_task(committed_org):
    catalog = catalog_make()
    body = {"items": [{"agent_id": catalog.duck.id, "quantity": 2}], "workspace": "B07"}
    results = _run(committed_org, [body] * 10, headers={"HTTP_IDEMPOTENCY_KEY": "tap-twice-42"})
    statuses = [s for s, _ in results]
    assert set(statuses) <= {201, 409}, statuses
    assert statuses.count(201) >= 1
    assert {b["error"]["code"] for s, b in results if s == 409} <= {"IDEMPOTENCY_IN_PROGRESS"}
    assert len({b["id"] for s, b in results if s == 201}) == 1
    assert Task.objects.count() == 1
    assert Agent.objects.get(pk=catalog.duck.pk).stock == 8
    # Once the first answer is stored, every retry replays it.
    replay = committed_org.client("staff").post(
        URL, body, format="json", HTTP_IDEMPOTENCY_KEY="tap-twice-42"
    )
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert Task.objects.count() == 1


def test_crossing_items_and_concurrent_cancels_never_deadlock(committed_org):
    catalog = catalog_make()
    a = agent_make(name="A", category=catalog.hot, price="10.00", stock=1000)
    b = agent_make(name="B", category=catalog.drinks, price="20.00", stock=1000)
    forward = {"items": [{"agent_id": a.id, "quantity": 1}, {"agent_id": b.id, "quantity": 2}]}
    backward = {"items": [{"agent_id": b.id, "quantity": 2}, {"agent_id": a.id, "quantity": 1}]}
    first = _run(committed_org, [forward, backward] * 20)
    assert [s for s, _ in first] == [201] * 40
    # Now creates in both orders race against cancels (task row, then agents, then event).
    cancel_ids = [body["id"] for _, body in first]
    managers = [committed_org.client("manager") for _ in range(THREADS)]
    _warm_up(managers)
    barrier = threading.Barrier(THREADS + 1)

    def cancel(index: int) -> list[int]:
        out = []
        try:
            barrier.wait(timeout=30)
            for task_id in cancel_ids[index::THREADS]:
                response = managers[index].post(
                    f"{URL}{task_id}/cancel/", {"reason": "race"}, format="json"
                )
                out.append(response.status_code)
        finally:
            connection.close()
        return out

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(cancel, i) for i in range(THREADS)]
        barrier.wait(timeout=30)
        second = _run(committed_org, [backward, forward] * 40)
        cancels = [code for future in futures for code in future.result()]
    assert [s for s, _ in second] == [201] * 80
    assert cancels == [200] * 40
    for agent, per_task in ((a, 1), (b, 2)):
        agent.refresh_from_db()
        assert agent.stock == 1000 - 80 * per_task
        assert sum(StockMovement.objects.filter(agent=agent).values_list("delta", flat=True)) == (
            agent.stock
        )
