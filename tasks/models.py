from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Func, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import tenant_user_fk

from .choices import TASK_ORDERING, TaskPriority, TaskStatus

# Number limits, each used by a field's validators (which the API's serializers read:
# tasks.limits) and by the CHECK constraint that holds it in the database. Text limits are the
# fields' max_length.
QUANTITY_MIN, QUANTITY_MAX = 1, 999
NOTE_SCORE_MIN, NOTE_SCORE_MAX = 1, 5


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
    # db_default: a row inserted by SQL without naming it is normal (cc_task_create names it).
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
    quantity = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(QUANTITY_MIN), MaxValueValidator(QUANTITY_MAX)]
    )
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
                condition=Q(quantity__gte=QUANTITY_MIN) & Q(quantity__lte=QUANTITY_MAX),
                name="item_quantity_range",
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


class TaskNote(models.Model):
    """A note in a task's thread (a remark, a complaint), optionally with a feedback score of
    1-5 once the task is completed; reports average the scores."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="thread")
    author = tenant_user_fk(null=True, blank=True)
    text = models.CharField(max_length=1000)
    score = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(NOTE_SCORE_MIN), MaxValueValidator(NOTE_SCORE_MAX)],
    )
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
