"""Fixtures of the task tests: a small catalog in acme's schema (testing.factories)."""

import pytest

from agents.models import Agent, StockMovement
from events.models import TaskEvent
from tasks.models import Task
from testing.factories import Catalog, catalog_make


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
    return catalog_make()


@pytest.fixture
def staff(acme):
    """A staff client of acme (its requests leave the schema as they found it)."""
    return acme.client("staff")
