"""Catalog fixtures: a small catalog built through the services (the real write path)."""

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from agents.models import Agent, AgentCategory
from agents.services import agent_create, category_create


@dataclass
class Catalog:
    categories: list[AgentCategory] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)


def build_catalog(*, agents: int = 3, stock: int | None = 10) -> Catalog:
    """Two categories and ``agents`` agents (alternating categories) in the active schema."""
    hot = category_create(name="Hot dishes", sort_order=1)
    bar = category_create(name="Bar", sort_order=2)
    catalog = Catalog(categories=[hot, bar])
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


@pytest.fixture
def acme_catalog(acme) -> Catalog:
    acme.activate()
    catalog = build_catalog()
    return catalog


@pytest.fixture
def globex_catalog(globex) -> Catalog:
    globex.activate()
    catalog = build_catalog(agents=1)
    return catalog


def error_fields(response) -> set[str]:
    body = response.json()
    assert set(body) == {"error"}, body
    return set(body["error"]["details"].get("fields", {}))
