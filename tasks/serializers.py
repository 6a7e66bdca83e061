"""Task input validation and the one task representation (API responses and event payloads)."""

from collections.abc import Mapping
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core.serializers import OrgDateTimeField
from organizations.business_day import org_zone

from .choices import TaskPriority
from .constants import BATCH_MAX_TASKS, MAX_ITEMS_PER_TASK
from .limits import (
    CANCEL_REASON_MAX_LENGTH,
    CUSTOMER_NAME_MAX_LENGTH,
    ITEM_NOTES_MAX_LENGTH,
    NOTE_SCORE_MAX,
    NOTE_SCORE_MIN,
    NOTE_TEXT_MAX_LENGTH,
    NOTES_MAX_LENGTH,
    QUANTITY_MAX,
    QUANTITY_MIN,
    WORKSPACE_MAX_LENGTH,
)
from .models import Task, TaskItem, TaskNote


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
    quantity = serializers.IntegerField(min_value=QUANTITY_MIN, max_value=QUANTITY_MAX)
    notes = serializers.CharField(
        max_length=ITEM_NOTES_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


class TaskCreateInputSerializer(StrictInputSerializer):
    items = TaskItemInputSerializer(many=True, allow_empty=False, max_length=MAX_ITEMS_PER_TASK)
    workspace = serializers.CharField(
        max_length=WORKSPACE_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    customer_name = serializers.CharField(
        max_length=CUSTOMER_NAME_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    notes = serializers.CharField(
        max_length=NOTES_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    discount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
        default=Decimal("0.00"),
    )
    priority = serializers.ChoiceField(
        choices=TaskPriority.choices, required=False, default=TaskPriority.NORMAL.value
    )


class TaskEditItemSerializer(StrictInputSerializer):
    """One line of the new item list of an edit: ``id`` keeps (or changes) an existing line,
    ``agent_id`` adds one; lines of the task not listed are removed."""

    id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    agent_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    quantity = serializers.IntegerField(min_value=QUANTITY_MIN, max_value=QUANTITY_MAX)
    notes = serializers.CharField(
        max_length=ITEM_NOTES_MAX_LENGTH, required=False, allow_blank=True
    )

    def validate(self, attrs):
        if ("id" in attrs) == ("agent_id" in attrs):
            raise serializers.ValidationError(
                _("Give either id (an existing line) or agent_id (a new line).")
            )
        return attrs


class TaskUpdateInputSerializer(StrictInputSerializer):
    """``PATCH /tasks/{id}/``: only the fields sent change. ``items`` (managers) is the whole
    new list of lines."""

    workspace = serializers.CharField(
        max_length=WORKSPACE_MAX_LENGTH, required=False, allow_blank=True
    )
    customer_name = serializers.CharField(
        max_length=CUSTOMER_NAME_MAX_LENGTH, required=False, allow_blank=True
    )
    notes = serializers.CharField(max_length=NOTES_MAX_LENGTH, required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=TaskPriority.choices, required=False)
    items = TaskEditItemSerializer(
        many=True, required=False, allow_empty=False, max_length=MAX_ITEMS_PER_TASK
    )

    def validate_items(self, items):
        ids = [line["id"] for line in items if "id" in line]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError(_("Each existing line may be listed once."))
        return items


class TaskNoteInputSerializer(StrictInputSerializer):
    text = serializers.CharField(max_length=NOTE_TEXT_MAX_LENGTH)
    score = serializers.IntegerField(
        min_value=NOTE_SCORE_MIN, max_value=NOTE_SCORE_MAX, required=False, allow_null=True
    )


class TaskNoteSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()
    created_at = OrgDateTimeField(read_only=True)

    class Meta:
        model = TaskNote
        fields = ["id", "task_id", "author", "text", "score", "created_at"]
        read_only_fields = fields

    def get_author(self, note) -> dict | None:
        author = note.author
        if author is None:
            return None
        return {"id": author.pk, "name": author.full_name or author.email}


class TaskBatchInputSerializer(StrictInputSerializer):
    """The envelope of a batch: each task is validated on its own afterwards (a bad one,
    even one that is not an object, fails alone), so entries are any JSON here."""

    tasks = serializers.ListField(
        child=serializers.JSONField(), allow_empty=False, max_length=BATCH_MAX_TASKS
    )


class TaskBatchResultSerializer(serializers.Serializer):
    """One entry of a batch answer: the created task, or the error of that one task."""

    status = serializers.IntegerField(help_text="201, or the error's HTTP status.")
    task = serializers.DictField(required=False, help_text="The task (as in create) when 201.")
    error = serializers.DictField(
        required=False, help_text="The error envelope's body {code, message, details}."
    )


class TaskBatchAnswerSerializer(serializers.Serializer):
    results = TaskBatchResultSerializer(many=True)
    created = serializers.IntegerField()
    failed = serializers.IntegerField()


_CREATE_TEXT_LIMITS = {
    "workspace": WORKSPACE_MAX_LENGTH,
    "customer_name": CUSTOMER_NAME_MAX_LENGTH,
    "notes": NOTES_MAX_LENGTH,
}
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
    if type(data) is not dict or not set(data) <= {"items", "priority", *_CREATE_TEXT_LIMITS}:
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
            or not QUANTITY_MIN <= quantity <= QUANTITY_MAX
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
    priority = data.get("priority", TaskPriority.NORMAL.value)
    if type(priority) is not str or priority not in TaskPriority.values:
        return None
    validated["discount"] = Decimal("0.00")
    validated["priority"] = priority
    return validated


class TaskCancelInputSerializer(StrictInputSerializer):
    reason = serializers.CharField(max_length=CANCEL_REASON_MAX_LENGTH)


class TaskItemDoneInputSerializer(StrictInputSerializer):
    done = serializers.BooleanField()


class TaskItemSerializer(serializers.ModelSerializer):
    agent_id = serializers.IntegerField(read_only=True)
    category_id = serializers.IntegerField(source="category_id_snapshot", read_only=True)
    done_at = OrgDateTimeField(read_only=True)
    added_at = OrgDateTimeField(read_only=True)

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
            "added_at",
        ]
        read_only_fields = fields


def output_zone():
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
        "added_at": _iso(item.added_at, zone),
    }


def task_representation(task: Task, items: list[TaskItem] | None = None) -> dict:
    """The task as a plain dict, written out by hand: it is built on every create and status
    change (API answer and event payload), where DRF's generic field machinery costs several
    milliseconds. ``TaskSerializer`` declares the same fields for the schema, and a test checks
    that both render the same. ``items`` default to ``task.items.all()``."""
    zone = output_zone()
    if items is None:
        items = task.items.all()
    return {
        "id": task.id,
        "number": task.number,
        "business_date": task.business_date.isoformat(),
        "status": task.status,
        "priority": task.priority,
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
            "priority",
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
    """Documentation of the event wire format (``events.services.event_to_message``)."""

    type = serializers.CharField()
    seq = serializers.IntegerField()
    at = serializers.DateTimeField()
    category_ids = serializers.ListField(child=serializers.IntegerField())
    actor = serializers.DictField(
        help_text='{"type": "user"|"screen", "id", "name"} or {"type": "system"}.'
    )
    data = serializers.DictField()


class TaskEventPageSerializer(serializers.Serializer):
    results = TaskEventSerializer(many=True)
    next_after_seq = serializers.IntegerField()
    has_more = serializers.BooleanField()
