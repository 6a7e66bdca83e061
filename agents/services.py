"""Writes of the catalog: categories, agents, stock adjustments, reconciliation.

Every write makes the cached catalog pages stale after commit (``catalog_cache_invalidate``);
stock changes go through ``agents.stock``, which does the same.
"""

import time
from datetime import timedelta
from decimal import Decimal

import structlog
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.choices import AuditAction
from audit.services import Target, audit_changes, audit_record, audit_snapshot
from core.exceptions import ApplicationError, ConflictError, NotFoundError, PlanLimitError

from .cache import catalog_cache_invalidate
from .constants import RECONCILIATION_KEEP_DAYS
from .models import Agent, AgentCategory, StockMovement, StockReconciliation
from .selectors import stock_ledger_drift
from .stock import agents_lock, stock_adjust, stock_set_limited, stock_set_unlimited

logger = structlog.get_logger(__name__)

# Postgres ``bigint``: a larger id can name nothing, answer 404 rather than a database error.
_MAX_ID = 2**63 - 1


def _parse_id(value) -> int | None:
    try:
        parsed = int(value)
    except (TypeError, ValueError):
        return None
    return parsed if 0 < parsed <= _MAX_ID else None


# --- access helpers: fetch in this organization or 404 ---------------------------------------


def access_category(*, category_id, lock: bool = False) -> AgentCategory:
    """A category of the current organization (404 in the envelope for anything else)."""
    pk = _parse_id(category_id)
    qs = AgentCategory.objects.all()
    if lock:
        qs = qs.select_for_update()
    category = qs.filter(pk=pk).first() if pk else None
    if category is None:
        raise NotFoundError(_("Agent category not found."))
    return category


def access_agent(*, agent_id, lock: bool = False) -> Agent:
    """An agent of the current organization (404 in the envelope for anything else).

    With ``lock`` the row is taken FOR UPDATE (through ``agents_lock``: the same lock order as
    task creation), so the caller must be inside a transaction.
    """
    pk = _parse_id(agent_id)
    agent = None
    if pk and lock:
        agent = agents_lock([pk]).get(pk)
    elif pk:
        agent = Agent.objects.select_related("category").filter(pk=pk).first()
    if agent is None:
        raise NotFoundError(_("Agent not found."))
    return agent


def _name_taken(name: str) -> ApplicationError:
    return ApplicationError(
        _("Some fields are invalid."),
        code="VALIDATION_ERROR",
        details={"fields": {"name": [_("A category with this name already exists.")]}},
    )


# --- categories ------------------------------------------------------------------------------


@transaction.atomic
def category_create(*, name: str, sort_order: int = 0) -> AgentCategory:
    if AgentCategory.objects.filter(name__iexact=name).exists():
        raise _name_taken(name)
    try:
        with transaction.atomic():
            category = AgentCategory.objects.create(name=name, sort_order=sort_order)
    except IntegrityError as exc:  # a concurrent create with the same name
        raise _name_taken(name) from exc
    audit_record(
        action=AuditAction.CATEGORY_CREATE,
        target=category,
        changes=audit_changes(before={}, after={"name": name, "sort_order": sort_order}),
    )
    catalog_cache_invalidate()
    return category


@transaction.atomic
def category_update(*, category: AgentCategory, **fields) -> AgentCategory:
    name = fields.get("name")
    if name and AgentCategory.objects.filter(name__iexact=name).exclude(pk=category.pk).exists():
        raise _name_taken(name)
    before = audit_snapshot(category, fields)
    for key, value in fields.items():
        setattr(category, key, value)
    try:
        with transaction.atomic():
            category.save(update_fields=[*fields.keys(), "updated_at"])
    except IntegrityError as exc:
        raise _name_taken(name) from exc
    audit_record(
        action=AuditAction.CATEGORY_UPDATE,
        target=category,
        changes=audit_changes(before=before, after=fields),
    )
    catalog_cache_invalidate()
    return category


@transaction.atomic
def category_delete(*, category: AgentCategory) -> None:
    """Delete an empty category; one that still holds agents is a 409 ``CATEGORY_IN_USE``."""
    in_use = ConflictError(
        _("This category still has agents: move or delete them first."),
        code="CATEGORY_IN_USE",
        details={"category_id": category.pk, "agents": category.agents.count()},
    )
    target = Target(type="agentcategory", id=str(category.pk), label=category.name)
    try:
        with transaction.atomic():
            category.delete()
    except (ProtectedError, IntegrityError) as exc:
        raise in_use from exc
    audit_record(action=AuditAction.CATEGORY_DELETE, target=target)
    catalog_cache_invalidate()


# --- agents ----------------------------------------------------------------------------------

# What an agent's create row shows (its stock: the ``initial`` movement has the ledger's view).
_AGENT_AUDITED = (
    "name",
    "category_id",
    "unit_price",
    "is_available",
    "stock",
    "low_stock_threshold",
)


def _plan_lock() -> None:
    # Serializes agent creation within one organization so two concurrent creates cannot both
    # pass the plan check (released at commit; other organizations are not affected).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{connection.schema_name}:agents"]
        )


@transaction.atomic
def agent_create(
    *,
    name: str,
    category: AgentCategory,
    unit_price: Decimal,
    is_available: bool = True,
    stock: int | None = None,
    low_stock_threshold: int = 0,
    user=None,
) -> Agent:
    """Create an agent within the plan limit; a limited stock writes its ``initial`` movement."""
    organization = connection.tenant
    _plan_lock()
    if Agent.objects.count() >= organization.max_agents:
        raise PlanLimitError(
            _("Your plan allows at most %(max)d agents.") % {"max": organization.max_agents},
            details={"max_agents": organization.max_agents},
        )
    agent = Agent.objects.create(
        name=name,
        category=category,
        unit_price=unit_price,
        is_available=is_available,
        stock=None,
        low_stock_threshold=low_stock_threshold,
    )
    if stock is not None:
        stock_set_limited(
            agent=agent, stock=stock, user=user, note="initial stock", emit_events=False
        )
    audit_record(
        action=AuditAction.AGENT_CREATE,
        target=agent,
        changes=audit_changes(before={}, after=audit_snapshot(agent, _AGENT_AUDITED)),
    )
    catalog_cache_invalidate()
    return agent


@transaction.atomic
def agent_update(*, agent: Agent, **fields) -> Agent:
    """Change name, category, price, availability or threshold (never the stock: that goes
    through the stock adjustments, which keep the ledger)."""
    if "stock" in fields:
        raise ApplicationError(
            _("Some fields are invalid."),
            code="VALIDATION_ERROR",
            details={"fields": {"stock": [_("Stock is changed through stock adjustments.")]}},
        )
    before = audit_snapshot(agent, fields)
    for key, value in fields.items():
        setattr(agent, key, value)
    # The stock column is never part of this UPDATE: a concurrent task keeps its decrement.
    agent.save(update_fields=[*fields.keys(), "updated_at"])
    audit_record(
        action=AuditAction.AGENT_UPDATE,
        target=agent,
        changes=audit_changes(before=before, after=audit_snapshot(agent, fields)),
    )
    catalog_cache_invalidate()
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent) -> None:
    """Delete an agent nobody ordered yet; one with task items is a 409 ``AGENT_IN_USE`` (make
    it unavailable instead: reports keep pointing at it)."""
    target = Target(type="agent", id=str(agent.pk), label=agent.name)
    try:
        with transaction.atomic():
            agent.delete()
    except (ProtectedError, IntegrityError) as exc:
        raise ConflictError(
            _("This agent appears in tasks and cannot be deleted; make it unavailable instead."),
            code="AGENT_IN_USE",
            details={"agent_id": agent.pk},
        ) from exc
    audit_record(action=AuditAction.AGENT_DELETE, target=target)
    catalog_cache_invalidate()


# --- stock -----------------------------------------------------------------------------------


@transaction.atomic
def agent_stock_adjust(
    *,
    agent_id: int,
    user,
    note: str,
    delta: int | None = None,
    set_limited: int | None = None,
    set_unlimited: bool = False,
) -> tuple[Agent, StockMovement]:
    """A manager's stock change: exactly one of ``delta`` (limited agents), ``set_limited``
    (start tracking an unlimited agent at that stock) or ``set_unlimited``."""
    agent = access_agent(agent_id=agent_id, lock=True)
    stock_before = agent.stock
    if delta is not None:
        movement = stock_adjust(agent=agent, delta=delta, user=user, note=note)
    elif set_limited is not None:
        movement = stock_set_limited(agent=agent, stock=set_limited, user=user, note=note)
    elif set_unlimited:
        movement = stock_set_unlimited(agent=agent, user=user, note=note)
    else:
        raise ApplicationError(
            _("Some fields are invalid."),
            code="VALIDATION_ERROR",
            details={"fields": {"delta": [_("Give delta, set_limited or set_unlimited.")]}},
        )
    audit_record(
        action=AuditAction.STOCK_ADJUST,
        target=agent,
        changes={"stock": [stock_before, agent.stock], "reason": [None, note]},
    )
    return agent, movement


# --- reconciliation --------------------------------------------------------------------------


@transaction.atomic
def stock_reconcile() -> StockReconciliation:
    """Verify the ledger identity of the current organization, log and store any drift."""
    started = time.monotonic()
    checked, drift = stock_ledger_drift()
    result = StockReconciliation.objects.create(
        checked_at=timezone.now(),
        agents_checked=checked,
        drift=drift,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    for entry in drift:
        logger.warning("stock_ledger_drift", schema=connection.schema_name, **entry)
    logger.info(
        "stock_reconciled",
        schema=connection.schema_name,
        agents_checked=checked,
        drifting=len(drift),
    )
    StockReconciliation.objects.filter(
        checked_at__lt=timezone.now() - timedelta(days=RECONCILIATION_KEEP_DAYS)
    ).delete()
    return result
