"""Writes of the audit trail: ``audit_record`` (tenant), ``platform_audit_record`` (public),
and retention (``audit_prune``).

Services call ``audit_record`` inside the transaction of the change they make, after the
change: a change that rolls back takes its row with it, and a row is never written for a
change that did not happen. Never from signals (a signal cannot say who or why, and bulk
paths skip it).
"""

import datetime as dt
import enum
import uuid
from dataclasses import dataclass
from decimal import Decimal

import structlog
from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from .choices import ActorType, AuditAction, PlatformAction
from .constants import AUDIT_PRUNE_BATCH, PRUNE_FLAG
from .context import Actor, actor_for, current_actor, current_ip, current_request_id
from .models import AuditEvent

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Target:
    """What was acted on, when it is not (or no longer) a model instance at hand."""

    type: str
    id: str = ""
    label: str = ""


def audit_value(value):
    """A value as it is stored in ``changes``: JSON, money as strings, times in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dict):
        return {str(k): audit_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [audit_value(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return value


def audit_snapshot(instance, fields) -> dict:
    """``{field: value}`` of ``instance`` (before a change, to diff with ``audit_changes``)."""
    return {name: audit_value(getattr(instance, name)) for name in fields}


def audit_changes(*, before: dict, after: dict) -> dict:
    """``{field: [before, after]}`` of the fields whose value differs."""
    changes = {}
    for name, value in after.items():
        old, new = audit_value(before.get(name)), audit_value(value)
        if old != new:
            changes[name] = [old, new]
    return changes


def _target_of(target) -> Target:
    if isinstance(target, Target):
        return target
    if isinstance(target, models.Model):
        label = next(
            (
                str(value)
                for attr in ("number", "name", "email")
                if (value := getattr(target, attr, None))
            ),
            str(target),
        )
        return Target(type=target._meta.model_name, id=str(target.pk or ""), label=label)
    raise TypeError(f"audit target must be a model instance or a Target, not {type(target)!r}")


def _actor_of(actor) -> Actor:
    """An ``Actor``, the ``actor`` dict of a task event (``tasks.events.event_actor``), a user
    or a screen; None: the current one (``audit.context``)."""
    if actor is None:
        return current_actor()
    if isinstance(actor, Actor):
        return actor
    if isinstance(actor, dict):
        kind = actor.get("type", ActorType.SYSTEM)
        if kind == ActorType.SYSTEM:
            return Actor(type=ActorType.SYSTEM, label=actor.get("name", ""))
        current = current_actor()
        if current.type == kind and current.id == str(actor.get("id")):
            return current  # the request's own user: labelled by email, not display name
        return Actor(type=kind, id=str(actor.get("id", "")), label=actor.get("name", ""))
    is_screen = hasattr(actor, "station")  # displays.models.Screen
    resolved = actor_for(screen=actor) if is_screen else actor_for(user=actor)
    return resolved or current_actor()


def audit_record(
    *, action: str, target, changes: dict | None = None, actor=None, organization=None
) -> AuditEvent:
    """Append one row to the audit trail of the current organization (or of ``organization``,
    for services of the public schema: members, invitations, settings), inside the caller's
    transaction. ``target``: a model instance or a ``Target``."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change")
    if action not in AuditAction.values:
        raise ValueError(f"unknown audit action {action!r}: add it to audit.choices")
    event = AuditEvent(
        action=str(action),
        changes=audit_value(changes or {}),
        ip=current_ip(),
        request_id=current_request_id()[:128],
        at=timezone.now(),
    )
    who = _actor_of(actor)
    event.actor_type, event.actor_id, event.actor_label = who.type, who.id, who.label[:254]
    what = _target_of(target)
    event.target_type, event.target_id, event.target_label = what.type, what.id, what.label[:254]
    if organization is not None and connection.schema_name != organization.schema_name:
        # Same connection, same transaction: only the search path changes for this INSERT.
        with tenant_context(organization):
            event.save(force_insert=True)
    elif connection.schema_name == "public":
        raise RuntimeError("audit_record outside an organization: pass organization=")
    else:
        event.save(force_insert=True)
    return event


def platform_audit_record(
    *, action: str, organization=None, changes: dict | None = None, actor=None
):
    """Append one row to the platform's audit (public schema): operators' actions and the
    platform commands. The organization is kept as id, slug and name (no foreign key): the row
    outlives the organization's purge.

    The model lives in the public schema's app (``settings.PLATFORM_AUDIT_MODEL``) and is named
    by label, as ``AUTH_USER_MODEL`` is: the audit trail sits below the apps it records."""
    PlatformAuditEvent = apps.get_model(settings.PLATFORM_AUDIT_MODEL)

    if action not in PlatformAction.values:
        raise ValueError(f"unknown platform action {action!r}: add it to audit.choices")
    who = _actor_of(actor)
    return PlatformAuditEvent.objects.create(
        action=str(action),
        actor_type=who.type,
        actor_id=who.id,
        actor_label=who.label[:254],
        organization_ref=getattr(organization, "pk", None),
        organization_slug=getattr(organization, "slug", "") or "",
        organization_name=(getattr(organization, "name", "") or "")[:200],
        changes=audit_value(changes or {}),
        ip=current_ip(),
        request_id=current_request_id()[:128],
    )


# --- retention -------------------------------------------------------------------------------

_PRUNE_SQL = """
DELETE FROM audit_auditevent WHERE id IN (
    SELECT id FROM audit_auditevent WHERE at < %s ORDER BY id LIMIT %s
)
"""


def audit_prune(
    *, now: dt.datetime | None = None, retention_days: int | None = None, batch_size: int = 0
) -> int:
    """Delete the current organization's audit rows older than its ``audit_retention_days``,
    ``batch_size`` rows per statement and per transaction (short locks, bounded WAL bursts).

    The only delete the table accepts: each batch sets the ``cc.audit_prune`` flag for its own
    transaction, which the table's trigger checks (audit/migrations/0002).
    """
    batch_size = batch_size or AUDIT_PRUNE_BATCH
    if retention_days is None:
        retention_days = connection.tenant.audit_retention_days
    cutoff = (now or timezone.now()) - dt.timedelta(days=retention_days)
    deleted = batches = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, 'on', true)", [PRUNE_FLAG])
            cursor.execute(_PRUNE_SQL, [cutoff, batch_size])
            count = cursor.rowcount
            # Off again at once: a caller's enclosing transaction must not inherit the flag.
            cursor.execute("SELECT set_config(%s, 'off', true)", [PRUNE_FLAG])
        deleted += count
        batches += 1
        if count < batch_size:
            break
    logger.info(
        "audit_pruned",
        schema=connection.schema_name,
        deleted=deleted,
        batches=batches,
        cutoff=cutoff.isoformat(),
    )
    return deleted
