"""Stock changes: the code that writes ``Agent.stock``, with ``cc_task_create`` (the task
create statement, tasks/migrations/0007), which takes stock for an order under the same rules
and hands the levels back for ``stock_events_emit`` (the one threshold rule) to announce.

Rows are locked in ascending id order (no deadlocks between tasks that share agents), and the
decrement itself is a conditional UPDATE (``stock >= q``) backed by the CHECK constraint, so stock
can never go negative whatever the concurrency. Every change writes its ``StockMovement``,
when a threshold is crossed an ``agent.low_stock`` / ``agent.sold_out`` event (and
``agent.restocked`` when the stock comes back out of either), and makes the cached catalog pages
stale after commit.

Ledger identity: for every agent, ``sum(StockMovement.delta)`` equals its stock (0 while it is
unlimited: switching to unlimited writes a movement that closes the balance, switching back
writes an ``initial`` movement that opens it again).
"""

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.exceptions import ConflictError
from events.choices import EventType
from events.services import event_actor, event_emit

from .cache import catalog_cache_invalidate
from .choices import StockReason
from .constants import MAX_STOCK
from .models import Agent, StockMovement


class InsufficientStock(ConflictError):
    code = "INSUFFICIENT_STOCK"
    default_message = _("Not enough stock for some agents.")


class StockUnlimited(ConflictError):
    code = "STOCK_UNLIMITED"
    default_message = _(
        "This agent has unlimited stock: limit it first with set_limited, then adjust it."
    )


class StockAlreadyLimited(ConflictError):
    code = "STOCK_ALREADY_LIMITED"
    default_message = _("This agent already has a limited stock: adjust it with a delta.")


class StockTooHigh(ConflictError):
    code = "STOCK_TOO_HIGH"
    default_message = _("This change would take the stock above the maximum allowed.")


@dataclass(frozen=True)
class StockChange:
    agent_id: int
    before: int | None  # None: the agent was unlimited
    after: int | None  # None: the agent became unlimited (stock_set_unlimited)


@dataclass(frozen=True)
class StockLevel:
    """What a stock event says of its agent, as read under the lock (an ``Agent`` has the
    same attributes): for changes made in SQL (``cc_task_create``), where no model is loaded."""

    id: int
    name: str
    category_id: int
    low_stock_threshold: int


def agents_lock(agent_ids) -> dict[int, Agent]:
    """Lock the agents FOR UPDATE in id order and return them by id."""
    agents = Agent.objects.select_for_update(of=("self",)).select_related("category")
    return {a.id: a for a in agents.filter(id__in=sorted(set(agent_ids))).order_by("id")}


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
    actor: dict | None = None,
) -> list[StockChange]:
    return _record_movements(
        agents=agents,
        after=after,
        sign=sign,
        quantities=quantities,
        reason=reason,
        task_id=task_id,
        user=user,
        note=note,
        actor=actor,
    )[0]


def _record_movements(
    *,
    agents: dict[int, Agent],
    after: dict[int, int],
    sign: int,
    quantities: dict[int, int],
    reason: str,
    task_id: int | None,
    user,
    note: str = "",
    actor: dict | None = None,
) -> tuple[list[StockChange], list[StockMovement]]:
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
    stock_events_emit(agents=agents, changes=changes, actor=actor or event_actor(user=user))
    catalog_cache_invalidate()
    return changes, movements


def stock_events_emit(
    *, agents: Mapping[int, Agent | StockLevel], changes: list[StockChange], actor: dict
) -> None:
    """Append (in the current transaction) the events of stock changes: ``agent.sold_out`` on
    reaching 0, ``agent.low_stock`` on crossing the threshold, ``agent.restocked`` on coming back
    from either. The one place this rule lives (the task create function returns its levels
    here). ``agents``: by id, the changed agents as locked."""
    for change in changes:
        agent = agents[change.agent_id]
        payload = {
            "agent_id": agent.id,
            "name": agent.name,
            "stock": change.after,
            "low_stock_threshold": agent.low_stock_threshold,
        }
        # An unlimited agent that becomes limited crosses every threshold.
        before = change.before if change.before is not None else MAX_STOCK + 1
        if change.after == 0 and before > 0:
            event_emit(
                type=EventType.AGENT_SOLD_OUT,
                payload=payload,
                category_ids=[agent.category_id],
                actor=actor,
            )
        elif change.after is not None and change.after <= agent.low_stock_threshold < before:
            event_emit(
                type=EventType.AGENT_LOW_STOCK,
                payload=payload,
                category_ids=[agent.category_id],
                actor=actor,
            )
        elif _restocked(before=before, after=change.after, threshold=agent.low_stock_threshold):
            # Boards clear (or downgrade to "low") their sold-out / low-stock strip on this:
            # without it a strip entry would outlive the shortage it announced.
            event_emit(
                type=EventType.AGENT_RESTOCKED,
                payload=payload,
                category_ids=[agent.category_id],
                actor=actor,
            )


def _restocked(*, before: int, after: int | None, threshold: int) -> bool:
    """Stock came back: out of sold out (``0 -> n``), or back above the low-stock threshold, or
    no longer tracked (``after`` None: unlimited) while it was sold out or low."""
    if before > threshold and before > 0:
        return False
    return after is None or (after > before and (before == 0 or after > threshold))


# No savepoint: callers abort their whole transaction on any refusal, and a savepoint
# costs two round trips while agent rows are locked.
@transaction.atomic(savepoint=False)
def stock_give_back(
    *,
    agents: dict[int, Agent],
    quantities: dict[int, int],
    task_id: int | None,
    reason: str,
    user=None,
    actor: dict | None = None,
) -> list[StockChange]:
    """Return stock (task cancelled, expired, or lines removed by an edit) for locked
    ``agents``."""
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
        actor=actor,
    )


_TAKE_SQL = """
UPDATE agents_agent AS a SET stock = a.stock - v.q, updated_at = %s
FROM (VALUES {values}) AS v(id, q)
WHERE a.id = v.id AND a.stock IS NOT NULL AND a.stock >= v.q
RETURNING a.id, a.stock
"""


@transaction.atomic(savepoint=False)
def stock_take(
    *,
    agents: dict[int, Agent],
    quantities: dict[int, int],
    task_id: int | None,
    user=None,
    actor: dict | None = None,
) -> list[StockChange]:
    """Take stock for an existing task (an edit adding items) from locked ``agents``, as
    ``cc_task_create`` does for a new one: checked on the locked rows (``InsufficientStock``
    naming every short agent, nothing written), then a conditional UPDATE whose row count must
    match, backed by the CHECK constraint. Unlimited agents are left alone."""
    limited = {aid: q for aid, q in sorted(quantities.items()) if agents[aid].stock is not None}
    short = [
        {
            "agent_id": aid,
            "name": agents[aid].name,
            "requested": q,
            "available": agents[aid].stock,
        }
        for aid, q in limited.items()
        if agents[aid].stock < q
    ]
    if short:
        raise InsufficientStock(details={"agents": short})
    if not limited:
        return []
    after = _apply(_TAKE_SQL, limited)
    if len(after) != len(limited):  # defensive: the rows are locked, this cannot race
        raise InsufficientStock(details={"agent_ids": sorted(set(limited) - set(after))})
    return _record(
        agents=agents,
        after=after,
        sign=-1,
        quantities=limited,
        reason=StockReason.TASK,
        task_id=task_id,
        user=user,
        actor=actor,
    )


_ADJUST_SQL = """
UPDATE agents_agent SET stock = stock + %s, updated_at = %s
WHERE id = %s AND stock IS NOT NULL AND stock + %s >= 0 AND stock + %s <= %s
RETURNING stock
"""
_SET_LIMITED_SQL = """
UPDATE agents_agent SET stock = %s, updated_at = %s WHERE id = %s AND stock IS NULL
RETURNING stock
"""
_SET_UNLIMITED_SQL = """
UPDATE agents_agent SET stock = NULL, updated_at = %s WHERE id = %s AND stock IS NOT NULL
RETURNING id
"""


def _execute_one(sql: str, params: list):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _ledger_balance(agent_id: int) -> int:
    total = StockMovement.objects.filter(agent_id=agent_id).aggregate(total=Sum("delta"))["total"]
    return total or 0


def _short(agent: Agent, requested: int) -> InsufficientStock:
    return InsufficientStock(
        details={
            "agents": [
                {
                    "agent_id": agent.id,
                    "name": agent.name,
                    "requested": requested,
                    "available": agent.stock,
                }
            ]
        }
    )


@transaction.atomic
def stock_adjust(*, agent: Agent, delta: int, user=None, note: str = "") -> StockMovement:
    """Correct the stock of a locked, limited ``agent`` by ``delta`` (manual adjustment).

    A delta that would take the stock below zero raises ``InsufficientStock`` and writes nothing;
    the UPDATE itself is conditional, so even an unlocked caller could not overdraw.
    """
    if agent.stock is None:
        raise StockUnlimited(details={"agent_id": agent.id})
    if agent.stock + delta < 0:
        raise _short(agent, -delta)
    if agent.stock + delta > MAX_STOCK:
        raise StockTooHigh(details={"agent_id": agent.id, "max_stock": MAX_STOCK})
    row = _execute_one(_ADJUST_SQL, [delta, timezone.now(), agent.id, delta, delta, MAX_STOCK])
    if row is None:  # defensive: the row is locked, this cannot race
        raise _short(agent, -delta)
    _changes, movements = _record_movements(
        agents={agent.id: agent},
        after={agent.id: row[0]},
        sign=1 if delta > 0 else -1,
        quantities={agent.id: abs(delta)},
        reason=StockReason.ADJUSTMENT,
        task_id=None,
        user=user,
        note=note,
    )
    return movements[0]


@transaction.atomic
def stock_set_limited(
    *, agent: Agent, stock: int, user=None, note: str = "", emit_events: bool = True
) -> StockMovement:
    """Give a locked, unlimited ``agent`` a limited stock; writes the ``initial`` movement.

    Also used right after creating an agent with a stock (``emit_events=False``: nobody has seen
    the agent yet, so there is nothing to announce).
    """
    if agent.stock is not None:
        raise StockAlreadyLimited(details={"agent_id": agent.id, "stock": agent.stock})
    # Normally 0 for an unlimited agent; any residue is absorbed so the identity holds again.
    delta = stock - _ledger_balance(agent.id)
    if _execute_one(_SET_LIMITED_SQL, [stock, timezone.now(), agent.id]) is None:
        raise StockAlreadyLimited(details={"agent_id": agent.id})
    movement = StockMovement.objects.create(
        agent_id=agent.id,
        delta=delta,
        reason=StockReason.INITIAL,
        stock_after=stock,
        user=user,
        note=note,
    )
    agent.stock = stock
    if emit_events:
        stock_events_emit(
            agents={agent.id: agent},
            changes=[StockChange(agent.id, None, stock)],
            actor=event_actor(user=user),
        )
    catalog_cache_invalidate()
    return movement


@transaction.atomic
def stock_set_unlimited(*, agent: Agent, user=None, note: str = "") -> StockMovement:
    """Stop tracking the stock of a locked, limited ``agent``.

    The closing movement brings the ledger balance back to 0 (``stock_after`` 0), so the identity
    still holds, and a later ``stock_set_limited`` starts from a clean balance.
    """
    if agent.stock is None:
        raise StockUnlimited(details={"agent_id": agent.id})
    delta = -_ledger_balance(agent.id)
    if _execute_one(_SET_UNLIMITED_SQL, [timezone.now(), agent.id]) is None:
        raise StockUnlimited(details={"agent_id": agent.id})
    movement = StockMovement.objects.create(
        agent_id=agent.id,
        delta=delta,
        reason=StockReason.ADJUSTMENT,
        stock_after=0,
        user=user,
        note=note,
    )
    before = agent.stock
    agent.stock = None
    stock_events_emit(
        agents={agent.id: agent},
        changes=[StockChange(agent.id, before, None)],
        actor=event_actor(user=user),
    )
    catalog_cache_invalidate()
    return movement
