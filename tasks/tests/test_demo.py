"""Demo catalog and history: realistic, consistent, idempotent."""

from collections import Counter, defaultdict

from django.db.models import Max

from agents.models import Agent, AgentCategory, StockMovement
from organizations.business_day import business_date, org_zone
from tasks.demo import seed_demo_catalog, seed_demo_history
from tasks.models import DailySequence, Task, TaskItem
from tasks.services import task_number


def test_demo_catalog_is_realistic_and_idempotent(acme):
    seed_demo_catalog(acme.organization)
    seed_demo_catalog(acme.organization)
    names = set(AgentCategory.objects.values_list("name", flat=True))
    assert {"冷菜 Cold dishes", "热菜 Hot dishes", "主食 Staples", "饮品 Drinks"} <= names
    assert Agent.objects.count() >= 20
    limited = Agent.objects.filter(stock__isnull=False)
    assert 0 < limited.count() < Agent.objects.count()
    for agent in limited:
        ledger = StockMovement.objects.filter(agent=agent)
        assert sum(ledger.values_list("delta", flat=True)) == agent.stock
        assert ledger.get().reason == "initial"
    prices = list(Agent.objects.values_list("unit_price", flat=True))
    assert min(prices) >= 1 and max(prices) <= 200


def test_demo_history_follows_peaks_and_stays_consistent(acme):
    org = acme.organization
    seed_demo_catalog(org)
    ticks = []
    created = seed_demo_history(org, days=30, progress=ticks.append)
    assert ticks == [1] * 30
    assert created == Task.objects.count() > 30 * 50
    today = business_date(org)
    days = sorted(set(Task.objects.values_list("business_date", flat=True)))
    assert len(days) == 30 and days[-1] < today

    # Numbers: YYYYMMDD + sequence, 1..n per day, matching DailySequence.
    per_day = defaultdict(list)
    for number, day, sequence in Task.objects.values_list("number", "business_date", "sequence"):
        assert number == task_number(day, sequence)
        per_day[day].append(sequence)
    for day, sequences in per_day.items():
        assert sorted(sequences) == list(range(1, len(sequences) + 1))
        assert DailySequence.objects.get(business_date=day).last_value == len(sequences)

    # Peaks in the organization's timezone; every task on its own business day.
    zone = org_zone(org)
    hours = Counter()
    for task in Task.objects.only("created_at", "business_date"):
        local = task.created_at.astimezone(zone)
        assert business_date(org, task.created_at) == task.business_date
        hours[local.hour] += 1
    in_peaks = sum(hours[h] for h in (11, 12, 13, 17, 18, 19, 20))
    assert in_peaks / created > 0.7
    assert hours[12] > hours[15] and hours[18] > hours[15]

    statuses = Counter(Task.objects.values_list("status", flat=True))
    assert set(statuses) == {"completed", "cancelled", "expired"}
    assert statuses["completed"] > 0.85 * created
    # Money and timing are consistent; history never touches limited stock.
    for task in Task.objects.filter(status="completed")[:200]:
        assert task.total == task.subtotal - task.discount
        assert task.created_at < task.accepted_at < task.started_at < task.ready_at
        assert task.ready_at < task.completed_at
    assert not TaskItem.objects.filter(agent__stock__isnull=False).exists()
    assert not StockMovement.objects.exclude(reason="initial").exists()

    # Idempotent: a second run writes nothing.
    assert seed_demo_history(org, days=30) == 0
    assert Task.objects.count() == created
    assert Task.objects.aggregate(m=Max("sequence"))["m"] == max(
        DailySequence.objects.values_list("last_value", flat=True)
    )
