"""Writes of the task flow: create, the status machine, item completion, pinning, edits,
recall, notes and expiry.

Lock order, the same in every transaction so that none can deadlock another:

1. the task row (``FOR UPDATE``), for changes of an existing task;
2. the agents that have a stock (``agents.stock.agents_lock``: ascending id);
3. the day's ``DailySequence`` row (create only);
4. the event counter (``events.services.event_emit``, ``cc_event_append``), always last.

Create is the hot path (every order of every organization): its checks that need no lock run
here, and what must happen under the locks runs in one statement, the PL/pgSQL function
``cc_task_create`` (tasks/migrations/0007_narrow_task_create.py), which takes the locks in the
order above: stock decrements, the day's sequence, the inserts. The rules stay here: the
low-stock / sold-out crossing is decided by ``agents.stock.stock_events_emit`` from the stock
levels the function returns, in the same transaction. The sequence row and the event counter
are held until commit by every create of an organization.
"""

import json
from collections import defaultdict
from contextlib import nullcontext
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

import psycopg
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from agents.cache import catalog_cache_bump
from agents.choices import StockReason
from agents.models import StockMovement
from agents.selectors import agents_orderable
from agents.stock import (
    InsufficientStock,
    StockChange,
    StockLevel,
    agents_lock,
    stock_events_emit,
    stock_give_back,
    stock_take,
)
from audit.choices import AuditAction
from audit.services import audit_record
from core.exceptions import NotFoundError
from events.choices import EventType
from events.models import TaskEvent
from events.services import ScreenActor, event_actor, event_emit, events_publish_on_commit
from organizations.business_day import business_date

from .choices import (
    ADVANCE,
    EDITABLE_STATUSES,
    ITEM_MARKABLE_STATUSES,
    RECALL,
    STATUS_TIMESTAMP,
    TRANSITIONS,
    TaskPriority,
    TaskStatus,
)
from .constants import EXPIRY_BATCH_SIZE
from .errors import (
    AgentNotFound,
    AgentUnavailable,
    InvalidTransition,
    RecallWindowPassed,
    TaskLocked,
    TaskNotActive,
    field_error,
)
from .limits import CANCEL_REASON_MAX_LENGTH
from .models import IdempotencyKey, Task, TaskItem, TaskNote
from .selectors import access_task
from .serializers import output_zone, task_item_representation, task_representation

CENT = Decimal("0.01")

# cc_task_create (tasks/migrations/0007_narrow_task_create.py).
_CREATE_SQL = (
    "SELECT cc_task_create(%s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s::bigint[], "
    "%s::integer[], %s::jsonb, %s::bigint[])"
)


def task_number(day, sequence: int) -> str:
    """``YYYYMMDD`` + the day's sequence on 3 digits (4 and more past 999); ``cc_task_create``
    builds the same in SQL."""
    return f"{day:%Y%m%d}{sequence:03d}"


def task_item_snapshot(agent, *, category_name: str, quantity: int, notes: str = "") -> TaskItem:
    """An unsaved item of ``quantity`` x ``agent`` as an order records it: the agent's name,
    category and unit price as they are now (later catalog edits leave the task alone), and its
    line total rounded to the cent. ``agent``: a model ``Agent`` or an ``OrderableAgent``."""
    unit_price = agent.unit_price.quantize(CENT)
    return TaskItem(
        agent_id=agent.id,
        agent_name=agent.name,
        category_id_snapshot=agent.category_id,
        category_name=category_name,
        unit_price=unit_price,
        quantity=quantity,
        line_total=(unit_price * quantity).quantize(CENT),
        notes=notes,
    )


def task_serialize(task: Task, items: list[TaskItem] | None = None) -> dict:
    """The task as a plain JSON-able dict (API body and event ``data``)."""
    return task_representation(task, items)


def _items_cache(task: Task, items: list[TaskItem]) -> None:
    # Serialization reads ``task.items.all()``: give it the rows already in hand.
    queryset = TaskItem.objects.filter(task_id=task.id)
    queryset._result_cache = list(items)
    queryset._prefetch_done = True
    task._prefetched_objects_cache = {"items": queryset}


def _items_of(task: Task) -> list[TaskItem]:
    cache = getattr(task, "_prefetched_objects_cache", {})
    if "items" in cache:
        return list(cache["items"])
    items = list(TaskItem.objects.filter(task=task).order_by("id"))
    _items_cache(task, items)
    return items


def _task_event(
    task: Task, type: str, *, actor: dict, extra: dict | None = None, category_ids=()
) -> None:
    """Record (and publish after commit) a task event: the last step of every change.

    ``extra``: keys added to the payload next to the task's (what an edit changed, where a
    recall came from); ``category_ids``: categories concerned besides the current items' (an
    edit's removed lines: their station must hear of it)."""
    items = _items_of(task)
    payload = task_serialize(task)
    if extra:
        payload.update(extra)
    event_emit(
        type=type,
        payload=payload,
        task=task,
        category_ids={item.category_id_snapshot for item in items} | set(category_ids),
        actor=actor,
    )


def _user_id(user) -> int | None:
    return user.pk if user is not None and getattr(user, "is_authenticated", False) else None


def _user(user):
    return user if _user_id(user) is not None else None


# --- create ----------------------------------------------------------------------------------


def _item_errors(items: list[dict], agent_ids: set[int], message) -> list[dict]:
    # Shaped like DRF's list errors: one entry per item, empty where the item is fine.
    return [
        {"agent_id": [str(message)]} if line.get("agent_id") in agent_ids else {} for line in items
    ]


def _orderable_lines(
    items: list[dict], *, request_items: list[dict] | None = None
) -> tuple[dict, list[TaskItem]]:
    """The agents ``items`` name and one unsaved line per item (prices and names snapshotted).

    400 AGENT_NOT_FOUND naming the unknown agents (and, as field errors, the positions in
    ``request_items``, the list the client sent: ``items`` by default), 409 AGENT_UNAVAILABLE
    naming the unavailable ones; the same rules for a new task and for the lines an edit adds.
    Nothing is locked or written.
    """
    agent_ids = {line["agent_id"] for line in items}
    agents = agents_orderable(ids=agent_ids) if agent_ids else {}
    missing = agent_ids - set(agents)
    if missing:
        message = _("Unknown agent.")
        raise AgentNotFound(
            details={
                "agent_ids": sorted(missing),
                "fields": {"items": _item_errors(request_items or items, missing, message)},
            }
        )
    unavailable = [agents[aid] for aid in sorted(agent_ids) if not agents[aid].is_available]
    if unavailable:
        raise AgentUnavailable(
            details={"agents": [{"agent_id": a.id, "name": a.name} for a in unavailable]}
        )
    lines = [
        task_item_snapshot(
            agents[line["agent_id"]],
            category_name=agents[line["agent_id"]].category_name,
            quantity=line["quantity"],
            notes=line.get("notes", ""),
        )
        for line in items
    ]
    return agents, lines


def task_create(
    *,
    user,
    items: list[dict],
    workspace: str = "",
    customer_name: str = "",
    notes: str = "",
    discount: Decimal = Decimal("0"),
    priority: str = TaskPriority.NORMAL,
    now: datetime | None = None,
) -> Task:
    """Create a task in one transaction: stock taken, prices snapshotted, number allocated.

    ``items`` are ``{"agent_id", "quantity", "notes"}``; several lines may name the same agent
    (e.g. with different notes): they stay separate lines and the stock is taken for their sum.
    Nothing is written when anything is refused.
    """
    organization = connection.tenant
    now = now or timezone.now()
    discount = Decimal(discount).quantize(CENT)
    if not items:
        raise field_error("items", _("At least one item is required."))

    quantities: dict[int, int] = defaultdict(int)
    for line in items:
        quantities[line["agent_id"]] += line["quantity"]

    # Read without locks: validation and prices need none, and unlimited agents are never
    # written. Only agents with a stock are locked (by cc_task_create): a popular dish with
    # unlimited stock must not serialize every create that names it.
    agents, lines = _orderable_lines(items)
    subtotal = sum((line.line_total for line in lines), Decimal("0.00"))
    if discount > subtotal:
        raise field_error(
            "discount",
            _("The discount cannot exceed the subtotal (%(subtotal)s).") % {"subtotal": subtotal},
        )
    # Checked again under the lock by cc_task_create; refusing here spares the lock.
    short = _stock_shortfall(agents, quantities)
    if short:
        raise InsufficientStock(details={"agents": short})

    task = Task(
        business_date=business_date(organization, now),
        status=TaskStatus.PENDING,
        priority=priority,
        workspace=workspace,
        customer_name=customer_name,
        notes=notes,
        subtotal=subtotal,
        discount=discount,
        total=subtotal - discount,
        created_by_id=_user_id(user),
        created_at=now,
        updated_at=now,
    )
    take = {aid: q for aid, q in sorted(quantities.items()) if agents[aid].stock is not None}
    categories = payload_categories(lines)
    # The payload is built once: the function inserts its items, the event and the answer
    # carry it with the ids filled in.
    payload = task_serialize(task, lines)
    actor = event_actor(user=user)
    # Without stock to take the create is one statement: its own transaction in autocommit
    # mode (no BEGIN/COMMIT round trips). Taking stock may cross a threshold, whose events are
    # appended from Python after the statement: one transaction holds both. Inside a caller's
    # atomic block (Idempotency-Key, batch) either joins it; events are published after
    # whichever commits.
    try:
        with transaction.atomic(savepoint=False) if take else nullcontext():
            result = _create_write(
                task=task, take=take, payload=payload, categories=categories, actor=actor
            )
            if "error" not in result:
                _created_publish(task, lines, payload, result, take=take, actor=actor, now=now)
    except IntegrityError as exc:
        # An unlimited agent (never locked) deleted since the read: its item's foreign key
        # fails when the statement commits. Refused as the read would have refused it.
        if not isinstance(exc.__cause__, psycopg.errors.ForeignKeyViolation):
            raise
        gone = sorted(set(quantities) - set(agents_orderable(ids=quantities)))
        raise AgentNotFound(details={"agent_ids": gone}) from exc
    # Refusals are raised out here: the function wrote nothing, and leaving the block normally
    # keeps a caller's transaction usable (an exception would mark it for rollback).
    if result.get("error") == "INSUFFICIENT_STOCK":
        raise InsufficientStock(details={"agents": result["agents"]})
    if "error" in result:
        raise AgentNotFound(details={"agent_ids": result["agent_ids"]})
    return task


def _created_publish(
    task: Task,
    lines: list[TaskItem],
    payload: dict,
    result: dict,
    *,
    take: dict[int, int],
    actor: dict,
    now: datetime,
) -> None:
    """After ``cc_task_create`` wrote the task: fill in what it allocated, publish
    ``task.created`` after commit, append the stock events the take calls for."""
    _created(task, lines, payload, result)
    created = TaskEvent(
        seq=result["task_event_seq"],
        type=EventType.TASK_CREATED,
        task=task,
        category_ids=payload_categories(lines),
        payload=payload,
        actor=actor,
        at=now,
    )
    # The stock taken makes the cached catalog stale: its version is replaced in the events'
    # Redis round trip. Published before the threshold events (seq order).
    bump = partial(catalog_cache_bump, connection.schema_name) if take else None
    events_publish_on_commit([created], also=bump)
    if take:
        _stock_events(result["stock"], take, actor=actor)


def payload_categories(lines: list[TaskItem]) -> list[int]:
    """The categories of a new task's items (screens filter its events on them)."""
    return sorted({line.category_id_snapshot for line in lines})


def _created(task: Task, lines: list[TaskItem], payload: dict, result: dict) -> None:
    """Give the unsaved task and items (and the payload) the ids and number the function
    allocated, as if the ORM had saved them."""
    task.id = payload["id"] = result["task_id"]
    task.number = payload["number"] = result["number"]
    task.sequence = result["sequence"]
    task._state.adding = False
    task._state.db = connection.alias
    for line, item, item_id in zip(lines, payload["items"], result["item_ids"], strict=True):
        line.id = item["id"] = item_id
        line.task_id = task.id
        line._state.adding = False
        line._state.db = connection.alias
    _items_cache(task, lines)


def _stock_events(rows: list[dict], take: dict[int, int], *, actor: dict) -> None:
    """The low-stock / sold-out events of the stock a create took, decided by the catalog's
    rule (``agents.stock.stock_events_emit``) on the levels ``cc_task_create`` read under its
    locks."""
    levels = {
        row["id"]: StockLevel(
            id=row["id"],
            name=row["name"],
            category_id=row["category_id"],
            low_stock_threshold=row["low_stock_threshold"],
        )
        for row in rows
    }
    changes = [
        StockChange(row["id"], row["stock_after"] + take[row["id"]], row["stock_after"])
        for row in rows
    ]
    stock_events_emit(agents=levels, changes=changes, actor=actor)


def _create_write(
    *, task: Task, take: dict[int, int], payload: dict, categories, actor: dict
) -> dict:
    """Call ``cc_task_create``; its answer (ids, number, the stock after, or a refusal) as a
    dict."""
    with connection.prepared_cursor() as cursor:
        cursor.execute(
            _CREATE_SQL,
            [
                task.priority,
                json.dumps(actor),
                task.business_date,
                task.created_at,
                task.created_by_id,
                task.workspace,
                task.customer_name,
                task.notes,
                task.subtotal,
                task.discount,
                list(take),
                list(take.values()),
                json.dumps(payload, cls=DjangoJSONEncoder),
                categories,
            ],
        )
        # Django's backend leaves jsonb undecoded (JSONField decodes it itself).
        return json.loads(cursor.fetchone()[0])


def _stock_shortfall(agents: dict, quantities: dict[int, int]) -> list[dict]:
    return [
        {
            "agent_id": aid,
            "name": agents[aid].name,
            "requested": quantity,
            "available": agents[aid].stock,
        }
        for aid, quantity in sorted(quantities.items())
        if agents[aid].stock is not None and agents[aid].stock < quantity
    ]


# --- status machine --------------------------------------------------------------------------


def _stock_restore(task: Task, *, reason: str, user, actor: dict) -> None:
    # What the task really took, from the ledger: an agent that became limited (or unlimited)
    # since the task was created gets back exactly what it gave, never more.
    taken = {
        row["agent_id"]: -row["net"]
        for row in StockMovement.objects.filter(task_id=task.id)
        .values("agent_id")
        .annotate(net=Sum("delta"))
        if row["net"] < 0
    }
    if not taken:
        return
    agents = agents_lock(taken)
    quantities = {aid: q for aid, q in taken.items() if aid in agents}
    if quantities:
        stock_give_back(
            agents=agents,
            quantities=quantities,
            task_id=task.id,
            reason=reason,
            user=_user(user),
            actor=actor,
        )


def _status_apply(
    task: Task, to_status: str, *, user, reason: str, now: datetime, actor: dict
) -> None:
    """Move a locked task one legal step; restores stock on cancel and expiry."""
    if to_status not in TRANSITIONS.get(task.status, frozenset()):
        raise InvalidTransition(details={"from": task.status, "to": to_status})
    fields = ["status", "updated_at"]
    if to_status == TaskStatus.CANCELLED:
        reason = (reason or "").strip()
        if not reason:
            raise field_error("reason", _("A reason is required to cancel a task."))
        if len(reason) > CANCEL_REASON_MAX_LENGTH:
            raise field_error(
                "reason",
                _("Use at most %(n)d characters.") % {"n": CANCEL_REASON_MAX_LENGTH},
            )
        task.cancel_reason = reason
        fields.append("cancel_reason")
    task.status = to_status
    stamp = STATUS_TIMESTAMP.get(to_status)
    if stamp:
        setattr(task, stamp, now)
        fields.append(stamp)
    task.save(update_fields=fields)
    if to_status == TaskStatus.CANCELLED:
        _stock_restore(task, reason=StockReason.CANCEL, user=user, actor=actor)
    elif to_status == TaskStatus.EXPIRED:
        _stock_restore(task, reason=StockReason.EXPIRE, user=user, actor=actor)


def _status_event_type(to_status: str) -> str:
    if to_status == TaskStatus.CANCELLED:
        return EventType.TASK_CANCELLED
    return EventType.TASK_STATUS_CHANGED


@transaction.atomic
def task_transition(
    *, task_id: int, to_status: str, user=None, reason: str = "", now: datetime | None = None
) -> Task:
    """Move a task to ``to_status`` if the status machine allows it (409 otherwise)."""
    actor = event_actor(user=user)
    task = access_task(task_id=task_id, lock=True)
    status_before = task.status
    _status_apply(task, to_status, user=user, reason=reason, now=now or timezone.now(), actor=actor)
    _task_event(task, _status_event_type(to_status), actor=actor)
    if to_status == TaskStatus.CANCELLED:
        # Only the cancel is audited: the floor's moves are in the task events (docs/audit.md).
        audit_record(
            action=AuditAction.TASK_CANCEL,
            target=task,
            actor=actor,
            changes={"status": [status_before, to_status], "reason": [None, reason]},
        )
    return task


@transaction.atomic
def task_advance(*, task_id: int, user=None, screen: ScreenActor | None = None) -> Task:
    """The display screen's bump: pending -> accepted -> in_progress -> ready -> completed."""
    actor = event_actor(user=user, screen=screen)
    task = access_task(task_id=task_id, lock=True)
    to_status = ADVANCE.get(task.status)
    if to_status is None:
        raise InvalidTransition(details={"from": task.status, "to": None})
    _status_apply(task, to_status, user=user, reason="", now=timezone.now(), actor=actor)
    _task_event(task, EventType.TASK_STATUS_CHANGED, actor=actor)
    return task


@transaction.atomic
def task_item_set_done(
    *,
    task_id: int,
    item_id: int,
    done: bool = True,
    user=None,
    screen: ScreenActor | None = None,
) -> Task:
    """Mark one item (un)done.

    Marking an item done on a pending or accepted task means the work has started: the task
    moves to ``in_progress`` (stamping ``accepted_at``/``started_at`` on the way); when every
    item is done it moves to ``ready``. Ready and closed tasks refuse item changes (409
    ``TASK_NOT_ACTIVE``). Setting an item to the state it already has changes nothing (no
    error, no event), whatever the task's status: screens may repeat a tap.
    """
    actor = event_actor(user=user, screen=screen)
    task = access_task(task_id=task_id, lock=True)
    items = _items_of(task)
    item = next((i for i in items if i.id == item_id), None)
    if item is None:
        raise NotFoundError(details={"item_id": item_id})
    if item.done == done:  # a repeated tap changes nothing, whatever the status
        return task
    if task.status not in ITEM_MARKABLE_STATUSES:
        raise TaskNotActive(details={"status": task.status})
    now = timezone.now()
    item.done = done
    item.done_at = now if done else None
    item.save(update_fields=["done", "done_at"])

    status_before = task.status
    if done:
        target = TaskStatus.READY if all(i.done for i in items) else TaskStatus.IN_PROGRESS
        while task.status != target:
            _status_apply(task, ADVANCE[task.status], user=user, reason="", now=now, actor=actor)
    if task.status != status_before:
        _task_event(task, EventType.TASK_STATUS_CHANGED, actor=actor)
    else:
        Task.objects.filter(pk=task.pk).update(updated_at=now)
        task.updated_at = now
        _task_event(task, EventType.TASK_UPDATED, actor=actor)
    return task


@transaction.atomic
def task_set_pinned(*, task_id: int, pinned: bool, user=None) -> Task:
    """Pin (keep on top of the screens) or unpin a task; ``task.updated`` when it changes."""
    task = access_task(task_id=task_id, lock=True)
    if task.pinned == pinned:
        return task
    task.pinned = pinned
    task.save(update_fields=["pinned", "updated_at"])
    actor = event_actor(user=user)
    _task_event(task, EventType.TASK_UPDATED, actor=actor)
    audit_record(
        action=AuditAction.TASK_PIN if pinned else AuditAction.TASK_UNPIN,
        target=task,
        actor=actor,
        changes={"pinned": [not pinned, pinned]},
    )
    return task


# --- recall ----------------------------------------------------------------------------------


@transaction.atomic
def task_recall(
    *, task_id: int, user=None, screen: ScreenActor | None = None, now: datetime | None = None
) -> Task:
    """Undo a bump: ``ready -> in_progress`` or ``completed -> ready``, within the
    organization's ``recall_minutes`` of the ready / completed timestamp, which is cleared (the
    task is not ready / completed any more). ``task.recalled`` event.

    Any other status: 409 ``INVALID_TRANSITION``; too late: 409 ``RECALL_WINDOW_PASSED``.
    Items keep their done flags: the kitchen un-marks what has to be redone.
    """
    actor = event_actor(user=user, screen=screen)
    now = now or timezone.now()
    task = access_task(task_id=task_id, lock=True)
    if task.status not in RECALL:
        raise InvalidTransition(details={"from": task.status, "to": None, "action": "recall"})
    to_status, stamp = RECALL[task.status]
    since = getattr(task, stamp)
    minutes = connection.tenant.recall_minutes
    if since is None or now - since > timedelta(minutes=minutes):
        raise RecallWindowPassed(
            details={
                "status": task.status,
                "since": since.isoformat() if since else None,
                "recall_minutes": minutes,
            }
        )
    from_status = task.status
    task.status = to_status
    setattr(task, stamp, None)
    task.updated_at = now
    task.save(update_fields=["status", stamp, "updated_at"])
    _task_event(
        task,
        EventType.TASK_RECALLED,
        actor=actor,
        extra={"recall": {"from": from_status, "to": to_status}},
    )
    audit_record(
        action=AuditAction.TASK_RECALL,
        target=task,
        actor=actor,
        changes={"status": [from_status, to_status]},
    )
    return task


# --- edits -----------------------------------------------------------------------------------


def _taken_by(task_id: int, agent_ids) -> dict[int, int]:
    # What the task holds now per agent, from the ledger (never the items: an agent limited
    # after the order was placed gave it nothing, and gets nothing back).
    rows = (
        StockMovement.objects.filter(task_id=task_id, agent_id__in=list(agent_ids))
        .values("agent_id")
        .annotate(net=Sum("delta"))
    )
    return {row["agent_id"]: -row["net"] for row in rows if row["net"] < 0}


def _edit_lines(task: Task, lines: list[dict], *, now: datetime) -> dict:
    """Plan the new item list (nothing written): kept/changed lines, added and removed ones,
    the quantity difference per agent. 400 for a line id of another task, 400/409 for an added
    agent that is unknown or unavailable."""
    current = {item.id: item for item in _items_of(task)}
    unknown = [line["id"] for line in lines if "id" in line and line["id"] not in current]
    if unknown:
        raise field_error("items", _("Unknown line of this task: %(ids)s.") % {"ids": unknown})
    kept_ids = {line["id"] for line in lines if "id" in line}
    removed = [item for item_id, item in current.items() if item_id not in kept_ids]
    changed: list[tuple[TaskItem, int, str]] = []
    for line in lines:
        if "id" not in line:
            continue
        item = current[line["id"]]
        notes = line.get("notes", item.notes)
        if line["quantity"] != item.quantity or notes != item.notes:
            changed.append((item, line["quantity"], notes))

    _agents, added = _orderable_lines(
        [line for line in lines if "agent_id" in line], request_items=lines
    )
    for item in added:
        item.task_id = task.id
        item.added_at = now

    diff: dict[int, int] = defaultdict(int)
    for item in removed:
        diff[item.agent_id] -= item.quantity
    for item, quantity, _notes in changed:
        diff[item.agent_id] += quantity - item.quantity
    for item in added:
        diff[item.agent_id] += item.quantity
    return {
        "removed": removed,
        "changed": changed,
        "added": added,
        "diff": {aid: d for aid, d in diff.items() if d},
    }


def _edit_stock(task: Task, diff: dict[int, int], *, user, actor: dict) -> None:
    """Move the stock difference of an edit through the ledger, under the agents' locks (taken
    after the task's, ascending id): take for agents that gain (409 ``INSUFFICIENT_STOCK`` naming
    every short one, nothing written), give back to agents that lose at most what this task
    holds of them."""
    if not diff:
        return
    agents = agents_lock(diff)
    more = {aid: d for aid, d in diff.items() if d > 0 and aid in agents}
    held = _taken_by(task.id, [aid for aid, d in diff.items() if d < 0])
    back = {aid: min(-d, held[aid]) for aid, d in diff.items() if d < 0 and held.get(aid)}
    back = {aid: q for aid, q in back.items() if aid in agents}
    if more:
        stock_take(agents=agents, quantities=more, task_id=task.id, user=_user(user), actor=actor)
    if back:
        stock_give_back(
            agents=agents,
            quantities=back,
            task_id=task.id,
            reason=StockReason.CANCEL,
            user=_user(user),
            actor=actor,
        )


_EDIT_FIELDS = ("workspace", "customer_name", "notes", "priority")


@transaction.atomic
def task_update(
    *,
    task_id: int,
    user=None,
    items: list[dict] | None = None,
    now: datetime | None = None,
    **fields,
) -> Task:
    """Edit a task while it is ``pending`` or ``accepted`` (409 ``TASK_LOCKED`` after).

    ``fields``: any of workspace, customer_name, notes, priority. ``items``: the whole new list
    of lines, each ``{"id", "quantity", "notes"?}`` (an existing line, kept or changed) or
    ``{"agent_id", "quantity", "notes"?}`` (added); lines left out are removed. The stock
    difference goes through the ledger, totals are recomputed (the discount must still fit the
    subtotal: 400), and one ``task.updated`` event carries the task with its new items and
    ``changes`` (fields before/after, lines added, removed, changed). Who may change items
    (managers) is the caller's check. Nothing changed: no write, no event.
    """
    unknown = set(fields) - set(_EDIT_FIELDS)
    if unknown:
        raise TypeError(f"task_update: unexpected fields {sorted(unknown)}")
    actor = event_actor(user=user)
    now = now or timezone.now()
    task = access_task(task_id=task_id, lock=True)
    if task.status not in EDITABLE_STATUSES:
        raise TaskLocked(
            details={
                "status": task.status,
                "fields": sorted([*fields, *(["items"] if items else [])]),
            }
        )
    field_changes = {
        name: [getattr(task, name), value]
        for name, value in fields.items()
        if getattr(task, name) != value
    }
    plan = _edit_lines(task, items, now=now) if items is not None else None
    lines_changed = plan is not None and (plan["removed"] or plan["changed"] or plan["added"])
    if not field_changes and not lines_changed:
        return task

    total_before = task.total
    update_fields = ["updated_at", *field_changes]
    for name, (_before, after) in field_changes.items():
        setattr(task, name, after)
    changes: dict = {"fields": field_changes, "added": [], "removed": [], "changed": []}
    removed_categories: set[int] = set()
    if lines_changed:
        kept = [item for item in _items_of(task) if item not in plan["removed"]]
        new_quantity = {item.id: (quantity, notes) for item, quantity, notes in plan["changed"]}
        subtotal = Decimal("0.00")
        for item in kept:
            quantity = new_quantity.get(item.id, (item.quantity,))[0]
            subtotal += (item.unit_price * quantity).quantize(CENT)
        subtotal += sum((item.line_total for item in plan["added"]), Decimal("0.00"))
        if task.discount > subtotal:
            raise field_error(
                "items",
                _("The discount (%(discount)s) would exceed the new subtotal (%(subtotal)s).")
                % {"discount": task.discount, "subtotal": subtotal},
            )
        _edit_stock(task, plan["diff"], user=user, actor=actor)

        zone = output_zone()
        for item in plan["removed"]:
            removed_categories.add(item.category_id_snapshot)
        changes["removed"] = [task_item_representation(i, zone) for i in plan["removed"]]
        TaskItem.objects.filter(pk__in=[item.pk for item in plan["removed"]]).delete()
        for item, quantity, notes in plan["changed"]:
            changes["changed"].append(
                {
                    "id": item.id,
                    "agent_id": item.agent_id,
                    "agent_name": item.agent_name,
                    "quantity": [item.quantity, quantity],
                    "notes": [item.notes, notes],
                }
            )
            item.quantity = quantity
            item.notes = notes
            item.line_total = (item.unit_price * quantity).quantize(CENT)
            item.save(update_fields=["quantity", "notes", "line_total"])
        TaskItem.objects.bulk_create(plan["added"])
        changes["added"] = [task_item_representation(i, zone) for i in plan["added"]]
        _items_cache(task, sorted(kept + plan["added"], key=lambda item: item.id))
        task.subtotal = subtotal
        task.total = subtotal - task.discount
        update_fields += ["subtotal", "total"]
    task.updated_at = now
    task.save(update_fields=update_fields)
    _task_event(
        task,
        EventType.TASK_UPDATED,
        actor=actor,
        extra={"changes": changes},
        category_ids=removed_categories,
    )
    audited = dict(field_changes)
    if lines_changed:
        audited["total"] = [total_before, task.total]
        lines = {key: changes[key] for key in ("added", "removed", "changed") if changes[key]}
        audited["items"] = [None, lines]
    audit_record(
        # A change of priority alone has its own code (the floor's "rush"); anything else: edit.
        action=AuditAction.TASK_PRIORITY if set(audited) == {"priority"} else AuditAction.TASK_EDIT,
        target=task,
        actor=actor,
        changes=audited,
    )
    return task


# --- notes -----------------------------------------------------------------------------------


@transaction.atomic
def task_note_create(
    *, task_id: int, user, text: str, score: int | None = None, now: datetime | None = None
) -> TaskNote:
    """Add a note to a task's thread. A ``score`` (1-5, feedback) only on a completed task
    (400 naming ``score`` otherwise); the task row is locked so a concurrent recall cannot
    slip between the check and the note."""
    task = access_task(task_id=task_id, lock=score is not None)
    text = text.strip()
    if not text:
        raise field_error("text", _("This field may not be blank."))
    if score is not None and task.status != TaskStatus.COMPLETED:
        raise field_error("score", _("A score can only be given once the task is completed."))
    note = TaskNote.objects.create(
        task=task, author=_user(user), text=text, score=score, created_at=now or timezone.now()
    )
    audit_record(
        action=AuditAction.TASK_NOTE,
        target=task,
        actor=event_actor(user=user),
        changes={"note": [None, text], **({"score": [None, score]} if score is not None else {})},
    )
    return note


# --- expiry ----------------------------------------------------------------------------------


def task_expire_stale(*, now: datetime | None = None) -> int:
    """Expire the current organization's pending tasks older than its expiry delay.

    One short transaction per task, taken with ``SKIP LOCKED``: a task a screen is bumping right
    now is left alone (it will not be pending any more, or the next run gets it).
    """
    organization = connection.tenant
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=organization.task_expiry_minutes)
    stale = Task.objects.filter(status=TaskStatus.PENDING, created_at__lt=cutoff)
    expired, last_id = 0, 0
    while True:
        ids = list(
            stale.filter(id__gt=last_id)
            .order_by("id")
            .values_list("id", flat=True)[:EXPIRY_BATCH_SIZE]
        )
        if not ids:
            return expired
        last_id = ids[-1]
        for task_id in ids:
            with transaction.atomic():
                task = (
                    stale.select_for_update(skip_locked=True, of=("self",))
                    .filter(pk=task_id)
                    .first()
                )
                if task is None:
                    continue
                actor = event_actor()
                _status_apply(task, TaskStatus.EXPIRED, user=None, reason="", now=now, actor=actor)
                _task_event(task, EventType.TASK_STATUS_CHANGED, actor=actor)
                expired += 1


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete ``Idempotency-Key`` records past their 24 hours."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
    deleted, _by_model = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
