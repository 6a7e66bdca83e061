"""Reads of the catalog: lists for the API, the stock ledger, reconciliation results."""

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Coalesce

from .models import Agent, AgentCategory, StockMovement, StockReconciliation


def agent_list() -> QuerySet[Agent]:
    """Every agent with its category (one query per page, whatever the page size)."""
    return Agent.objects.select_related("category")


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
    "category_list",
    "stock_ledger_drift",
    "stock_movement_list",
    "stock_reconciliation_last",
]
