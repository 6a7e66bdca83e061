"""Stock changes: the only code that writes ``Agent.stock``.

Rows are locked in ascending id order (no deadlocks between tasks that share agents), and the
decrement itself is a conditional UPDATE (``stock >= q``) backed by the CHECK constraint, so stock
can never go negative whatever the concurrency. Every change writes its ``StockMovement`` and,
when a threshold is crossed, an ``agent.low_stock`` / ``agent.sold_out`` event.
"""

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.exceptions import ConflictError
from tasks.choices import EventType
from tasks.events import event_emit

from .choices import StockReason
from .models import Agent, StockMovement


class InsufficientStock(ConflictError):
    code = "INSUFFICIENT_STOCK"
    default_message = _("Not enough stock for some agents.")


@dataclass(frozen=True)
class StockChange:
    agent_id: int
    before: int
    after: int


def agents_lock(agent_ids) -> dict[int, Agent]:
    """Lock the agents FOR UPDATE in id order and return them by id."""
    agents = Agent.objects.select_for_update(of=("self",)).select_related("category")
    return {a.id: a for a in agents.filter(id__in=sorted(set(agent_ids))).order_by("id")}


_TAKE_SQL = """
UPDATE agents_agent AS a SET stock = a.stock - v.q, updated_at = %s
FROM (VALUES {values}) AS v(id, q)
WHERE a.id = v.id AND a.stock IS NOT NULL AND a.stock >= v.q
RETURNING a.id, a.stock
"""
_GIVE_SQL = """
UPDATE agents_agent AS a SET stock = a.stock + v.q, updated_at = %s
FROM (VALUES {values}) AS v(id, q)
WHERE a.id = v.id AND a.stock IS NOT NULL
RETURNING a.id, a.stock
"""


def _apply(sql: str, deltas: dict[int, int]) -> dict[int, int]:
    values = ", ".join(["(%s::bigint, %s::integer)"] * len(deltas))
    params: list = [timezone.now()]
    for agent_id, quantity in deltas.items():
        params += [agent_id, quantity]
    with connection.cursor() as cursor:
        cursor.execute(sql.format(values=values), params)
        return dict(cursor.fetchall())


def _record(
    *,
    agents: dict[int, Agent],
    after: dict[int, int],
    sign: int,
    quantities: dict[int, int],
    reason: str,
    task_id: int | None,
    user,
    note: str = "",
) -> list[StockChange]:
    now = timezone.now()
    changes, movements = [], []
    for agent_id, stock_after in sorted(after.items()):
        delta = sign * quantities[agent_id]
        movements.append(
            StockMovement(
                agent_id=agent_id,
                delta=delta,
                reason=reason,
                task_id=task_id,
                stock_after=stock_after,
                user=user,
                note=note,
                at=now,
            )
        )
        changes.append(StockChange(agent_id, stock_after - delta, stock_after))
        agents[agent_id].stock = stock_after
    StockMovement.objects.bulk_create(movements)
    _emit_threshold_events(agents, changes)
    return changes


def _emit_threshold_events(agents: dict[int, Agent], changes: list[StockChange]) -> None:
    for change in changes:
        agent = agents[change.agent_id]
        payload = {
            "agent_id": agent.id,
            "name": agent.name,
            "stock": change.after,
            "low_stock_threshold": agent.low_stock_threshold,
        }
        if change.after == 0 and change.before > 0:
            event_emit(
                type=EventType.AGENT_SOLD_OUT, payload=payload, category_ids=[agent.category_id]
            )
        elif change.after <= agent.low_stock_threshold < change.before:
            event_emit(
                type=EventType.AGENT_LOW_STOCK, payload=payload, category_ids=[agent.category_id]
            )


@transaction.atomic
def stock_take(
    *, agents: dict[int, Agent], quantities: dict[int, int], task_id: int | None, user=None
) -> list[StockChange]:
    """Decrement stock for locked ``agents`` (from ``agents_lock``); all or nothing.

    Raises ``InsufficientStock`` naming every agent that lacks stock; nothing is written then.
    """
    limited = {aid: q for aid, q in quantities.items() if agents[aid].stock is not None}
    if not limited:
        return []
    short = [
        {"agent_id": aid, "name": agents[aid].name, "requested": q, "available": agents[aid].stock}
        for aid, q in sorted(limited.items())
        if agents[aid].stock < q
    ]
    if short:
        raise InsufficientStock(details={"agents": short})
    after = _apply(_TAKE_SQL, limited)
    if len(after) != len(limited):  # defensive: the rows are locked, this cannot race
        raise InsufficientStock(details={"agents": sorted(set(limited) - set(after))})
    return _record(
        agents=agents,
        after=after,
        sign=-1,
        quantities=limited,
        reason=StockReason.TASK,
        task_id=task_id,
        user=user,
    )


@transaction.atomic
def stock_give_back(
    *,
    agents: dict[int, Agent],
    quantities: dict[int, int],
    task_id: int | None,
    reason: str,
    user=None,
) -> list[StockChange]:
    """Return stock (task cancelled or expired) for locked ``agents``."""
    limited = {aid: q for aid, q in quantities.items() if agents[aid].stock is not None}
    if not limited:
        return []
    after = _apply(_GIVE_SQL, limited)
    return _record(
        agents=agents,
        after=after,
        sign=1,
        quantities=limited,
        reason=reason,
        task_id=task_id,
        user=user,
    )
