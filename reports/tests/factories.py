"""Test histories written directly as rows (bulk_create), independent of the tasks services.

Times are given in the organization's local time as naive datetimes (``at(org, "2026-01-14
11:10")``) or as aware datetimes; every task gets the number, business date and daily sequence
the tasks service would have given it.
"""

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from agents.models import Agent, AgentCategory
from organizations.business_day import business_date
from tasks.choices import STATUS_TIMESTAMP, TaskStatus
from tasks.models import Task, TaskItem


def at(organization, text: str, *, fold: int = 0) -> datetime:
    """An aware datetime from local ``YYYY-MM-DD HH:MM`` in the organization's timezone
    (``fold=1`` picks the second occurrence of a repeated DST hour)."""
    naive = datetime.fromisoformat(text)
    return naive.replace(tzinfo=ZoneInfo(organization.timezone), fold=fold)


@dataclass
class Catalog:
    categories: dict[str, AgentCategory] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)


def make_catalog(spec: dict[str, list[tuple[str, str]]] | None = None) -> Catalog:
    """Categories and agents: ``{"category": [("agent", "price"), ...]}``."""
    spec = spec or {
        "热菜": [("宫保鸡丁", "38.00"), ("米饭", "2.00")],
        "Drinks": [("Cola", "5.00")],
    }
    catalog = Catalog()
    for order, (name, agents) in enumerate(spec.items()):
        category = AgentCategory.objects.create(name=name, sort_order=order)
        catalog.categories[name] = category
        for agent_name, price in agents:
            catalog.agents[agent_name] = Agent.objects.create(
                name=agent_name, category=category, unit_price=Decimal(price), stock=None
            )
    return catalog


@dataclass
class TaskSpec:
    created_at: datetime
    status: str
    items: list[tuple[Agent, int]]
    discount: Decimal = Decimal("0")
    ready_after: timedelta | None = None
    workspace: str = "A01"
    customer_name: str = ""


_PATH = [TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS, TaskStatus.READY, TaskStatus.COMPLETED]


def _stamps(spec: TaskSpec) -> dict:
    """Status timestamps consistent with the status (ready at created + ready_after)."""
    stamps = {}
    created = spec.created_at
    if spec.status in (TaskStatus.CANCELLED, TaskStatus.EXPIRED):
        stamps[STATUS_TIMESTAMP[spec.status]] = created + timedelta(minutes=30)
        return stamps
    if spec.status == TaskStatus.PENDING:
        return stamps
    reached = _PATH[: _PATH.index(spec.status) + 1]
    ready = created + (spec.ready_after or timedelta(minutes=10))
    for status in reached:
        if status == TaskStatus.ACCEPTED:
            stamps["accepted_at"] = created + timedelta(minutes=1)
        elif status == TaskStatus.IN_PROGRESS:
            stamps["started_at"] = created + timedelta(minutes=2)
        elif status == TaskStatus.READY:
            stamps["ready_at"] = ready
        elif status == TaskStatus.COMPLETED:
            stamps["completed_at"] = ready + timedelta(minutes=5)
    return stamps


def make_tasks(organization, specs: list[TaskSpec], *, batch_size: int = 2000) -> list[Task]:
    """Write tasks and their items with two bulk inserts (plus one per batch)."""
    existing = {}
    for day, seq in Task.objects.values_list("business_date", "sequence"):
        existing[day] = max(existing.get(day, 0), seq)
    tasks, item_rows = [], []
    for spec in specs:
        day = business_date(organization, spec.created_at)
        existing[day] = existing.get(day, 0) + 1
        seq = existing[day]
        subtotal = sum(
            (agent.unit_price * quantity for agent, quantity in spec.items), Decimal("0")
        )
        tasks.append(
            Task(
                number=f"{day:%Y%m%d}{seq:03d}",
                business_date=day,
                sequence=seq,
                status=spec.status,
                workspace=spec.workspace,
                customer_name=spec.customer_name,
                subtotal=subtotal,
                discount=spec.discount,
                total=subtotal - spec.discount,
                created_at=spec.created_at,
                cancel_reason="customer left" if spec.status == TaskStatus.CANCELLED else "",
                **_stamps(spec),
            )
        )
        item_rows.append(spec.items)
    Task.objects.bulk_create(tasks, batch_size=batch_size)
    items = [
        TaskItem(
            task=task,
            agent=agent,
            agent_name=agent.name,
            category_id_snapshot=agent.category_id,
            category_name=agent.category.name,
            unit_price=agent.unit_price,
            quantity=quantity,
            line_total=agent.unit_price * quantity,
            done=task.status in (TaskStatus.READY, TaskStatus.COMPLETED),
        )
        for task, rows in zip(tasks, item_rows, strict=True)
        for agent, quantity in rows
    ]
    TaskItem.objects.bulk_create(items, batch_size=batch_size)
    return tasks


def big_day(organization, catalog: Catalog, day: str, *, tasks: int, seed: int = 7) -> None:
    """``tasks`` tasks of 3 items each spread over one business day (bench and load tests)."""
    import random

    rng = random.Random(seed)
    agents = list(catalog.agents.values())
    start = at(organization, f"{day} 05:00")
    statuses = itertools.cycle(
        [TaskStatus.COMPLETED] * 8 + [TaskStatus.CANCELLED, TaskStatus.EXPIRED]
    )
    specs = []
    for _ in range(tasks):
        created = start + timedelta(seconds=rng.randrange(0, 24 * 3600 - 3600))
        chosen = rng.sample(agents, 3) if len(agents) >= 3 else [agents[0]] * 3
        specs.append(
            TaskSpec(
                created_at=created,
                status=next(statuses),
                items=[(agent, rng.randint(1, 3)) for agent in chosen],
                ready_after=timedelta(seconds=rng.randint(120, 1800)),
                workspace=f"T{rng.randint(1, 40):02d}",
            )
        )
    make_tasks(organization, specs)
