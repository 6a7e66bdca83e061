"""Reads of the catalog: lists for the API, the stock ledger, reconciliation results."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Coalesce

from .models import Agent, AgentCategory, StockMovement, StockReconciliation


def agent_list() -> QuerySet[Agent]:
    """Every agent with its category (one query per page, whatever the page size)."""
    return Agent.objects.select_related("category")


@dataclass(frozen=True, slots=True)
class OrderableAgent:
    """What an order needs to know of an agent: validity, price and stock, with its category."""

    id: int
    name: str
    category_id: int
    category_name: str
    unit_price: Decimal
    is_available: bool
    stock: int | None
    low_stock_threshold: int


_ORDERABLE_SQL = """
SELECT a.id, a.name, a.category_id, c.name, a.unit_price, a.is_available, a.stock,
       a.low_stock_threshold
  FROM agents_agent a JOIN agents_agentcategory c ON c.id = a.category_id
 WHERE a.id = ANY(%s)
"""


def agents_orderable(*, ids) -> dict[int, OrderableAgent]:
    """The agents named by an order, by id, in one query without locks (task create reads them
    on every order: plain rows, not model instances; a prepared statement)."""
    with connection.prepared_cursor() as cursor:
        cursor.execute(_ORDERABLE_SQL, [list(ids)])
        return {row[0]: OrderableAgent(*row) for row in cursor.fetchall()}


def category_list() -> QuerySet[AgentCategory]:
    return AgentCategory.objects.annotate(agent_count=Count("agents"))


def stock_movement_list(*, agent: Agent) -> QuerySet[StockMovement]:
    """An agent's ledger, newest first."""
    return StockMovement.objects.filter(agent=agent).select_related("user").order_by("-at", "-id")


def stock_ledger_drift() -> tuple[int, list[dict]]:
    """Check ``sum(delta) == stock`` for every limited agent, in one query.

    Returns the number of agents checked and the ones that drift.
    """
    limited = Agent.objects.filter(stock__isnull=False).annotate(
        ledger=Coalesce(Sum("stock_movements__delta"), 0)
    )
    checked = 0
    drift = []
    for agent_id, name, stock, ledger in limited.values_list("id", "name", "stock", "ledger"):
        checked += 1
        if ledger != stock:
            drift.append(
                {
                    "agent_id": agent_id,
                    "name": name,
                    "stock": stock,
                    "ledger": ledger,
                    "difference": stock - ledger,
                }
            )
    return checked, drift


def stock_reconciliation_last() -> StockReconciliation | None:
    return StockReconciliation.objects.order_by("-checked_at", "-id").first()


def agent_count() -> int:
    return Agent.objects.count()


__all__ = [
    "agent_count",
    "agent_list",
    "agents_orderable",
    "category_list",
    "stock_ledger_drift",
    "stock_movement_list",
    "stock_reconciliation_last",
]
