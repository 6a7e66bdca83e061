"""Fixtures of the task tests: a small catalog in the current tenant schema."""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection

from agents.choices import StockReason
from agents.models import Agent, AgentCategory, StockMovement
from events.models import TaskEvent
from tasks.models import Task


@dataclass
class Catalog:
    hot: AgentCategory
    drinks: AgentCategory
    noodles: Agent  # unlimited
    duck: Agent  # stock 10, low-stock threshold 3
    tea: Agent  # unlimited
    juice: Agent  # stock 5
    seasonal: Agent  # unavailable


def agent_make(*, name, category, price, stock=None, threshold=0, available=True) -> Agent:
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


def catalog_make() -> Catalog:
    hot = AgentCategory.objects.create(name="Hot dishes", sort_order=1)
    drinks = AgentCategory.objects.create(name="Drinks", sort_order=2)
    return Catalog(
        hot=hot,
        drinks=drinks,
        noodles=agent_make(name="Beef noodles", category=hot, price="32.00"),
        duck=agent_make(name="Peking duck", category=hot, price="128.00", stock=10, threshold=3),
        tea=agent_make(name="Jasmine tea", category=drinks, price="12.50"),
        juice=agent_make(name="Orange juice", category=drinks, price="22.00", stock=5),
        seasonal=agent_make(name="Hairy crab", category=hot, price="98.00", available=False),
    )


def ledger_ok(agent: Agent) -> bool:
    """The ledger identity for one agent, read fresh from the database."""
    agent.refresh_from_db()
    total = sum(StockMovement.objects.filter(agent=agent).values_list("delta", flat=True))
    return total == agent.stock


def counts() -> tuple[int, int, int]:
    """(tasks, stock movements, events) in the current schema: 'nothing written' checks."""
    return Task.objects.count(), StockMovement.objects.count(), TaskEvent.objects.count()


@pytest.fixture
def catalog(acme) -> Catalog:
    acme.activate()
    return catalog_make()


@pytest.fixture
def staff(acme):
    """A staff client of acme that re-activates acme's schema after each request."""
    return acme.client("staff")


def back_to(org) -> None:
    """Requests leave the connection on their host's schema: return to ``org``'s."""
    connection.set_tenant(org.organization)
