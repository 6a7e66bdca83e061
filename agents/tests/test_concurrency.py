"""Stock under real concurrency: threads, real commits, the real database."""

import threading
from collections import Counter

from django.db import connection
from django.db.models import Sum

from agents.models import Agent, StockMovement
from testing.factories import catalog_via_services


def test_fifty_concurrent_decrements_on_stock_twenty(committed_org):
    with committed_org.active():
        agent = catalog_via_services(agents=1, stock=20).agents[0]
    url = f"/api/v1/agents/{agent.pk}/stock-adjustments/"
    clients = [committed_org.client("manager") for _ in range(50)]
    barrier = threading.Barrier(len(clients))
    outcomes: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def adjust(client):
        try:
            barrier.wait(timeout=30)
            response = client.post(url, {"delta": -1, "reason": "rush"}, format="json")
            code = response.json().get("error", {}).get("code")
            with lock:
                outcomes.append((response.status_code, code))
        finally:
            connection.close()

    threads = [threading.Thread(target=adjust, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert Counter(outcomes) == {(201, None): 20, (409, "INSUFFICIENT_STOCK"): 30}
    with committed_org.active():
        assert Agent.objects.get(pk=agent.pk).stock == 0
        movements = StockMovement.objects.filter(agent_id=agent.pk)
        assert movements.aggregate(total=Sum("delta"))["total"] == 0
        assert movements.count() == 21  # initial + 20 adjustments
        # stock_after is a consistent running balance: every value 0..19 exactly once.
        after = sorted(movements.filter(reason="adjustment").values_list("stock_after", flat=True))
        assert after == list(range(20))


def test_concurrent_creates_respect_the_plan_limit(committed_org):
    from organizations.models import Organization

    with committed_org.active():
        category = catalog_via_services(agents=0).categories[0]
    Organization.objects.filter(pk=committed_org.organization.pk).update(max_agents=5)
    clients = [committed_org.client("manager") for _ in range(12)]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def create(index, client):
        try:
            barrier.wait(timeout=30)
            response = client.post(
                "/api/v1/agents/",
                {"name": f"A{index}", "category": category.pk, "unit_price": "1.00"},
                format="json",
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert Counter(statuses) == {201: 5, 403: 7}
    with committed_org.active():
        assert Agent.objects.count() == 5
