from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F, Func, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import tenant_user_fk

from .choices import TASK_ORDERING, ActorType, EventType, TaskPriority, TaskStatus
from .constants import NOTE_SCORE_MAX, NOTE_SCORE_MIN, NOTE_TEXT_MAX_LENGTH


def system_actor() -> dict:
    """The actor of changes nobody made by hand (expiry job, migrations)."""
    return {"type": ActorType.SYSTEM.value}


class TaskSearchText(Func):
    """``UPPER(number || ' | ' || workspace || ' | ' || customer_name)``: what ``?search=``
    matches, and the expression of its trigram index.

    The separator is in the SQL text (``arg_joiner``), not a query parameter, so the query's
    expression is the index's expression word for word, also under prepared statements; and a
    search cannot match across two fields (the separator is refused in searches).
    """

    arg_joiner = " || ' | ' || "
    template = "UPPER(%(expressions)s)"
    output_field = models.TextField()

    def __init__(self, **extra):
        super().__init__(F("number"), F("workspace"), F("customer_name"), **extra)


class Task(models.Model):
    """An order: items of agents, flowing pending -> ... -> completed on the display screens.

    Money is computed on the server from the items' price snapshots; ``number`` is the business
    date plus a per-day sequence allocated in ``DailySequence``.
    """

    number = models.CharField(max_length=16, unique=True)
    business_date = models.DateField()
    sequence = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    # db_default: cc_task_create inserts tasks without naming it (a rush sets it afterwards).
    priority = models.CharField(
        max_length=8,
        choices=TaskPriority.choices,
        default=TaskPriority.NORMAL,
        db_default=TaskPriority.NORMAL,
    )
    workspace = models.CharField(max_length=20, blank=True)
    customer_name = models.CharField(max_length=100, blank=True)
    notes = models.CharField(max_length=500, blank=True)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)
    discount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    pinned = models.BooleanField(default=False)
    created_by = tenant_user_fk(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = TASK_ORDERING
        constraints = [
            models.UniqueConstraint(fields=["business_date", "sequence"], name="task_day_sequence"),
            models.CheckConstraint(
                condition=Q(priority__in=TaskPriority.values), name="task_priority_valid"
            ),
            models.CheckConstraint(condition=Q(discount__gte=0), name="task_discount_non_negative"),
            models.CheckConstraint(
                condition=Q(discount__lte=F("subtotal")), name="task_discount_le_subtotal"
            ),
            models.CheckConstraint(
                condition=Q(total=F("subtotal") - F("discount")), name="task_total_consistent"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["business_date", "status"]),
            models.Index(fields=["created_at"]),
            # ?search= (case-insensitive contains): trigrams (pg_trgm, created in the public
            # schema by organizations/migrations/0003) serve LIKE '%...%'.
            GinIndex(OpClass(TaskSearchText(), name="gin_trgm_ops"), name="task_search_trgm"),
        ]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")

    def __str__(self) -> str:
        return self.number


class TaskItem(models.Model):
    """One line of a task: an agent, a quantity and the name/price/category it had then."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="items")
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="task_items")
    agent_name = models.CharField(max_length=200)
    category_id_snapshot = models.BigIntegerField()
    category_name = models.CharField(max_length=100)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    quantity = models.PositiveSmallIntegerField()
    line_total = models.DecimalField(max_digits=12, decimal_places=2)
    notes = models.CharField(max_length=200, blank=True)
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    # Set when an edit added the line after the task was sent: boards show such lines under
    # an "added" separator.
    added_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1) & Q(quantity__lte=999), name="item_quantity_range"
            ),
        ]
        verbose_name = _("task item")
        verbose_name_plural = _("task items")

    def __str__(self) -> str:
        return f"{self.quantity} x {self.agent_name}"


class DailySequence(models.Model):
    """The last task sequence handed out per business date (``INSERT .. ON CONFLICT`` upsert:
    concurrent creates serialize on this row and never share a number)."""

    business_date = models.DateField(primary_key=True)
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("daily sequence")

    def __str__(self) -> str:
        return f"{self.business_date}: {self.last_value}"


class EventCounter(models.Model):
    """A single row holding the last event ``seq``. Taking it FOR UPDATE as the last step of a
    transaction makes ``seq`` order equal commit order, so ``after_seq`` catch-up never skips
    an event that committed late."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("event counter")

    def __str__(self) -> str:
        return str(self.last_seq)


class TaskEvent(models.Model):
    """Append-only log of every change, replayed to display screens after ``seq``."""

    seq = models.BigIntegerField(unique=True)
    type = models.CharField(max_length=32, choices=EventType.choices)
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    # Agent categories the event concerns: screens filter by station without loading tasks.
    category_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    payload = models.JSONField(default=dict)
    # Who made the change: {"type": "user"|"screen", "id", "name"} or {"type": "system"}.
    # db_default: cc_task_create writes events without it (its caller sets it afterwards).
    actor = models.JSONField(
        default=system_actor,
        db_default=models.Value({"type": ActorType.SYSTEM.value}, models.JSONField()),
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["seq"]
        verbose_name = _("task event")
        verbose_name_plural = _("task events")

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"


class TaskNote(models.Model):
    """A note in a task's thread (a remark, a complaint), optionally with a feedback score of
    1-5 once the task is completed; reports average the scores."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="thread")
    author = tenant_user_fk(null=True, blank=True)
    text = models.CharField(max_length=NOTE_TEXT_MAX_LENGTH)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__isnull=True)
                | (Q(score__gte=NOTE_SCORE_MIN) & Q(score__lte=NOTE_SCORE_MAX)),
                name="task_note_score_range",
            ),
        ]
        indexes = [models.Index(fields=["task", "created_at"])]
        verbose_name = _("task note")
        verbose_name_plural = _("task notes")

    def __str__(self) -> str:
        return f"{self.task_id}: {self.text[:40]}"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` on task create, kept 24 hours: replays the first answer."""

    key = models.CharField(max_length=255)
    user = tenant_user_fk()
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key")]
        indexes = [models.Index(fields=["created_at"])]
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")

    def __str__(self) -> str:
        return self.key
