"""Task input validation and the one task representation (API responses and event payloads)."""

from collections.abc import Mapping
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core.serializers import OrgDateTimeField
from organizations.business_day import org_zone

from .constants import (
    CANCEL_REASON_MAX_LENGTH,
    ITEM_NOTES_MAX_LENGTH,
    MAX_ITEMS_PER_TASK,
    MAX_QUANTITY,
)
from .models import Task, TaskItem


class StrictInputSerializer(serializers.Serializer):
    """Rejects unknown keys at every nesting level (DRF ignores them, and ``StrictSerializer``
    only sees the top level): a typo in an item's field is a 400, not silently dropped data."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown})
        return super().to_internal_value(data)


class TaskItemInputSerializer(StrictInputSerializer):
    agent_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    notes = serializers.CharField(
        max_length=ITEM_NOTES_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


class TaskCreateInputSerializer(StrictInputSerializer):
    items = TaskItemInputSerializer(many=True, allow_empty=False, max_length=MAX_ITEMS_PER_TASK)
    workspace = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    customer_name = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    notes = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    discount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
        default=Decimal("0.00"),
    )


_CREATE_TEXT_LIMITS = {"workspace": 20, "customer_name": 100, "notes": 500}
_ITEM_KEYS = frozenset({"agent_id", "quantity", "notes"})
_MAX_ID = 2**63 - 1


def _plain_text(value, max_length: int) -> bool:
    """A string DRF's CharField keeps as it is: no surrounding whitespace to trim, no NUL, no
    surrogate, within the length."""
    return (
        type(value) is str
        and len(value) <= max_length
        and value == value.strip()
        and "\x00" not in value
        and (value.isascii() or not any("\ud800" <= char <= "\udfff" for char in value))
    )


def task_create_input_fast(data) -> dict | None:
    """``TaskCreateInputSerializer``'s validated data for the common, plainly valid body, or
    ``None`` for anything else (which the serializer then validates, with its error messages).

    Task create is the hot path and DRF's nested serializer costs about a millisecond of CPU.
    This accepts only what the serializer accepts unchanged (JSON integers, untrimmed-free
    strings, no discount: a discount goes through the serializer), and returns the same data;
    tasks/tests/test_create_input.py checks both agree on generated bodies.
    """
    if type(data) is not dict or not set(data) <= {"items", *_CREATE_TEXT_LIMITS}:
        return None
    items = data.get("items")
    if type(items) is not list or not 0 < len(items) <= MAX_ITEMS_PER_TASK:
        return None
    lines = []
    for item in items:
        if type(item) is not dict or not set(item) <= _ITEM_KEYS:
            return None
        agent_id, quantity = item.get("agent_id"), item.get("quantity")
        notes = item.get("notes", "")
        if (
            type(agent_id) is not int
            or not 1 <= agent_id <= _MAX_ID
            or type(quantity) is not int
            or not 1 <= quantity <= MAX_QUANTITY
            or not _plain_text(notes, ITEM_NOTES_MAX_LENGTH)
        ):
            return None
        lines.append({"agent_id": agent_id, "quantity": quantity, "notes": notes})
    validated = {"items": lines}
    for name, max_length in _CREATE_TEXT_LIMITS.items():
        value = data.get(name, "")
        if not _plain_text(value, max_length):
            return None
        validated[name] = value
    validated["discount"] = Decimal("0.00")
    return validated


class TaskCancelInputSerializer(StrictInputSerializer):
    reason = serializers.CharField(max_length=CANCEL_REASON_MAX_LENGTH)


class TaskItemDoneInputSerializer(StrictInputSerializer):
    done = serializers.BooleanField()


class TaskItemSerializer(serializers.ModelSerializer):
    agent_id = serializers.IntegerField(read_only=True)
    category_id = serializers.IntegerField(source="category_id_snapshot", read_only=True)
    done_at = OrgDateTimeField(read_only=True)

    class Meta:
        model = TaskItem
        fields = [
            "id",
            "agent_id",
            "agent_name",
            "category_id",
            "category_name",
            "unit_price",
            "quantity",
            "line_total",
            "notes",
            "done",
            "done_at",
        ]
        read_only_fields = fields


def _output_zone():
    tenant = getattr(connection, "tenant", None)
    if tenant is not None and getattr(tenant, "timezone", None):
        return org_zone(tenant)
    return timezone.get_current_timezone()


def _iso(value, zone) -> str | None:
    # Exactly what DRF's DateTimeField renders (``Z`` for UTC), in ``zone``.
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _money(value) -> str:
    return f"{value:.2f}"


def task_item_representation(item: TaskItem, zone) -> dict:
    return {
        "id": item.id,
        "agent_id": item.agent_id,
        "agent_name": item.agent_name,
        "category_id": item.category_id_snapshot,
        "category_name": item.category_name,
        "unit_price": _money(item.unit_price),
        "quantity": item.quantity,
        "line_total": _money(item.line_total),
        "notes": item.notes,
        "done": item.done,
        "done_at": _iso(item.done_at, zone),
    }


def task_representation(task: Task, items: list[TaskItem] | None = None) -> dict:
    """The task as a plain dict, written out by hand: it is built on every create and status
    change (API answer and event payload), where DRF's generic field machinery costs several
    milliseconds. ``TaskSerializer`` declares the same fields for the schema, and a test checks
    that both render the same. ``items`` default to ``task.items.all()``."""
    zone = _output_zone()
    if items is None:
        items = task.items.all()
    return {
        "id": task.id,
        "number": task.number,
        "business_date": task.business_date.isoformat(),
        "status": task.status,
        "workspace": task.workspace,
        "customer_name": task.customer_name,
        "notes": task.notes,
        "subtotal": _money(task.subtotal),
        "discount": _money(task.discount),
        "total": _money(task.total),
        "pinned": task.pinned,
        "created_by": task.created_by_id,
        "created_at": _iso(task.created_at, zone),
        "updated_at": _iso(task.updated_at, zone),
        "accepted_at": _iso(task.accepted_at, zone),
        "started_at": _iso(task.started_at, zone),
        "ready_at": _iso(task.ready_at, zone),
        "completed_at": _iso(task.completed_at, zone),
        "cancelled_at": _iso(task.cancelled_at, zone),
        "expired_at": _iso(task.expired_at, zone),
        "cancel_reason": task.cancel_reason,
        "items": [task_item_representation(item, zone) for item in items],
    }


class TaskSerializer(serializers.ModelSerializer):
    """The task as screens and clients see it; also the ``data`` of every task event.

    Rendering goes through ``task_representation`` (fast path); the declared fields below are
    the schema of that output.
    """

    items = TaskItemSerializer(many=True, read_only=True)
    created_by = serializers.IntegerField(source="created_by_id", read_only=True, allow_null=True)
    created_at = OrgDateTimeField(read_only=True)
    updated_at = OrgDateTimeField(read_only=True)
    accepted_at = OrgDateTimeField(read_only=True)
    started_at = OrgDateTimeField(read_only=True)
    ready_at = OrgDateTimeField(read_only=True)
    completed_at = OrgDateTimeField(read_only=True)
    cancelled_at = OrgDateTimeField(read_only=True)
    expired_at = OrgDateTimeField(read_only=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "number",
            "business_date",
            "status",
            "workspace",
            "customer_name",
            "notes",
            "subtotal",
            "discount",
            "total",
            "pinned",
            "created_by",
            "created_at",
            "updated_at",
            "accepted_at",
            "started_at",
            "ready_at",
            "completed_at",
            "cancelled_at",
            "expired_at",
            "cancel_reason",
            "items",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        return task_representation(instance)

    def generic_representation(self, instance) -> dict:
        """DRF's own rendering from the declared fields (tests compare it with the fast one)."""
        return super().to_representation(instance)


class TaskEventSerializer(serializers.Serializer):
    """Documentation of the event wire format (``tasks.events.event_to_message``)."""

    type = serializers.CharField()
    seq = serializers.IntegerField()
    at = serializers.DateTimeField()
    category_ids = serializers.ListField(child=serializers.IntegerField())
    data = serializers.DictField()


class TaskEventPageSerializer(serializers.Serializer):
    results = TaskEventSerializer(many=True)
    next_after_seq = serializers.IntegerField()
    has_more = serializers.BooleanField()
