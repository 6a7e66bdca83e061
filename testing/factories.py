"""Builders of test data, shared by every app's tests.

Everything builds in the schema active when it is called (``with org.active():`` or the test's
organization fixture). Keyword-only, sensible defaults, real write paths where the behavior
matters:

- organizations: ``make_org`` (``testing.orgs``), members: ``member_make``;
- catalog: ``category_make``, ``agent_make`` (with its initial stock movement), and three
  catalog shapes: ``catalog_make`` (the task tests' named dishes), ``catalog_via_services``
  (numbered agents written through ``agents.services``) and ``catalog_named`` (a
  ``{category: [(agent, price)]}`` spec, the report tests' shape);
- tasks: ``task_make`` (through ``tasks.services.task_create``) for behavior, ``tasks_bulk``
  (bulk inserts with the numbers the service would give) for report and list volume, with
  ``TaskSpec``, ``at`` and ``big_day``;
- screens: ``screen_make`` (through ``displays.services.screen_create``).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from accounts.choices import Role
from accounts.models import User
from accounts.seeding import member_seed
from agents.choices import StockReason
from agents.models import Agent, AgentCategory, StockMovement
from organizations.business_day import business_date
from tasks.choices import STATUS_TIMESTAMP, TaskStatus
from tasks.models import Task, TaskItem
from testing.orgs import PASSWORD, Org, make_org

__all__ = [
    "PASSWORD",
    "Catalog",
    "NamedCatalog",
    "NumberedCatalog",
    "Org",
    "TaskSpec",
    "agent_make",
    "at",
    "big_day",
    "catalog_make",
    "catalog_named",
    "catalog_via_services",
    "category_make",
    "make_org",
    "member_make",
    "screen_make",
    "task_make",
    "tasks_bulk",
]


# --- people -----------------------------------------------------------------------------------


def member_make(org: Org, *, email: str, role: str = Role.STAFF, password: str = PASSWORD) -> User:
    """A user who is a member of ``org`` with ``role`` (the seeding path, no invitation)."""
    return member_seed(organization=org.organization, email=email, role=role, password=password)


# --- catalog ----------------------------------------------------------------------------------


def category_make(*, name: str = "Hot dishes", sort_order: int = 0) -> AgentCategory:
    return AgentCategory.objects.create(name=name, sort_order=sort_order)


def agent_make(
    *,
    name: str,
    category: AgentCategory,
    price: str | Decimal = "10.00",
    stock: int | None = None,
    threshold: int = 0,
    available: bool = True,
) -> Agent:
    """An agent with its initial ledger movement (``initial + sum(delta) == stock``)."""
    agent = Agent.objects.create(
        name=name,
        category=category,
        unit_price=Decimal(price),
        stock=stock,
        low_stock_threshold=threshold,
        is_available=available,
    )
    if stock is not None:
        StockMovement.objects.create(
            agent=agent, delta=stock, reason=StockReason.INITIAL, stock_after=stock
        )
    return agent


@dataclass
class Catalog:
    hot: AgentCategory
    drinks: AgentCategory
    noodles: Agent  # unlimited
    duck: Agent  # stock 10, low-stock threshold 3
    tea: Agent  # unlimited
    juice: Agent  # stock 5
    seasonal: Agent  # unavailable


def catalog_make() -> Catalog:
    """Two categories and five agents with the stocks the task tests rely on."""
    hot = category_make(name="Hot dishes", sort_order=1)
    drinks = category_make(name="Drinks", sort_order=2)
    return Catalog(
        hot=hot,
        drinks=drinks,
        noodles=agent_make(name="Beef noodles", category=hot, price="32.00"),
        duck=agent_make(name="Peking duck", category=hot, price="128.00", stock=10, threshold=3),
        tea=agent_make(name="Jasmine tea", category=drinks, price="12.50"),
        juice=agent_make(name="Orange juice", category=drinks, price="22.00", stock=5),
        seasonal=agent_make(name="Hairy crab", category=hot, price="98.00", available=False),
    )


@dataclass
class NumberedCatalog:
    categories: list[AgentCategory] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)


def catalog_via_services(*, agents: int = 3, stock: int | None = 10) -> NumberedCatalog:
    """Two categories ("Hot dishes", "Bar") and ``agents`` agents ``Agent 000``... (alternating
    categories, price 12.50 + i, low-stock threshold 2), written through ``agents.services``
    (audit rows, plan limit, initial movements: the real write path)."""
    from agents.services import agent_create, category_create

    hot = category_create(name="Hot dishes", sort_order=1)
    bar = category_create(name="Bar", sort_order=2)
    catalog = NumberedCatalog(categories=[hot, bar])
    for i in range(agents):
        catalog.agents.append(
            agent_create(
                name=f"Agent {i:03d}",
                category=hot if i % 2 == 0 else bar,
                unit_price=Decimal("12.50") + i,
                stock=stock,
                low_stock_threshold=2,
            )
        )
    return catalog


@dataclass
class NamedCatalog:
    categories: dict[str, AgentCategory] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)


def catalog_named(spec: dict[str, list[tuple[str, str]]] | None = None) -> NamedCatalog:
    """Categories and unlimited agents: ``{"category": [("agent", "price"), ...]}``."""
    spec = spec or {
        "热菜": [("宫保鸡丁", "38.00"), ("米饭", "2.00")],
        "Drinks": [("Cola", "5.00")],
    }
    catalog = NamedCatalog()
    for order, (name, agents) in enumerate(spec.items()):
        category = category_make(name=name, sort_order=order)
        catalog.categories[name] = category
        for agent_name, price in agents:
            catalog.agents[agent_name] = agent_make(name=agent_name, category=category, price=price)
    return catalog


# --- tasks ------------------------------------------------------------------------------------


def task_make(*, user, agents: list[Agent] | None = None, items: list[dict] | None = None, **kw):
    """A task through the real service (``tasks.services.task_create``): stock taken, number
    allocated, events appended. ``agents``: one line of quantity 1 each; or ``items``."""
    from tasks.services import task_create

    if items is None:
        items = [{"agent_id": agent.pk, "quantity": 1, "notes": ""} for agent in agents or ()]
    return task_create(user=user, items=items, **kw)


def at(organization, text: str, *, fold: int = 0) -> datetime:
    """An aware datetime from local ``YYYY-MM-DD HH:MM`` in the organization's timezone
    (``fold=1`` picks the second occurrence of a repeated DST hour)."""
    naive = datetime.fromisoformat(text)
    return naive.replace(tzinfo=ZoneInfo(organization.timezone), fold=fold)


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


def tasks_bulk(organization, specs: list[TaskSpec], *, batch_size: int = 2000) -> list[Task]:
    """Tasks and their items written with two bulk inserts (plus one per batch), independent of
    the tasks services; each gets the number, business date and daily sequence the service
    would have given it. For report and list volume, not for behavior."""
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


def big_day(organization, catalog: NamedCatalog, day: str, *, tasks: int, seed: int = 7) -> None:
    """``tasks`` tasks of 3 items each spread over one business day (bench and load tests)."""
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
    tasks_bulk(organization, specs)


# --- displays ---------------------------------------------------------------------------------


def screen_make(*, name: str = "Pass", station=(), **kw):
    """A screen through ``displays.services.screen_create``: ``(screen, plain token)``."""
    from displays.services import screen_create

    return screen_create(name=name, station=list(station), **kw)
