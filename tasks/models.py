from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Func, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

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

    number = models.CharField(max_length=16, unique=True, verbose_name=_("number"))
    business_date = models.DateField(verbose_name=_("business date"))
    sequence = models.PositiveIntegerField(verbose_name=_("sequence"))
    status = models.CharField(
        max_length=16,
        choices=TaskStatus.choices,
        default=TaskStatus.PENDING,
        verbose_name=_("status"),
    )
    # db_default: a row inserted by SQL without naming it is normal (cc_task_create names it).
    priority = models.CharField(
        max_length=8,
        choices=TaskPriority.choices,
        default=TaskPriority.NORMAL,
        db_default=TaskPriority.NORMAL,
        verbose_name=_("priority"),
    )
    workspace = models.CharField(max_length=20, blank=True, verbose_name=_("workspace"))
    customer_name = models.CharField(max_length=100, blank=True, verbose_name=_("customer name"))
    notes = models.CharField(max_length=500, blank=True, verbose_name=_("notes"))
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, verbose_name=_("subtotal"))
    discount = models.DecimalField(
        max_digits=12, decimal_places=2, default=0, verbose_name=_("discount")
    )
    total = models.DecimalField(max_digits=12, decimal_places=2, verbose_name=_("total"))
    pinned = models.BooleanField(default=False, verbose_name=_("pinned"))
    created_by = tenant_user_fk(null=True, blank=True, verbose_name=_("created by"))
    created_at = models.DateTimeField(
        default=timezone.now, verbose_name=pgettext_lazy("task", "created at")
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    accepted_at = models.DateTimeField(
        null=True, blank=True, verbose_name=pgettext_lazy("task", "accepted at")
    )
    started_at = models.DateTimeField(
        null=True, blank=True, verbose_name=pgettext_lazy("task", "started at")
    )
    ready_at = models.DateTimeField(null=True, blank=True, verbose_name=_("ready at"))
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("completed at"))
    cancelled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("cancelled at"))
    expired_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expired at"))
    cancel_reason = models.CharField(max_length=200, blank=True, verbose_name=_("cancel reason"))

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

    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="items", verbose_name=_("task")
    )
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.PROTECT, related_name="task_items", verbose_name=_("agent")
    )
    agent_name = models.CharField(max_length=200, verbose_name=_("agent name"))
    category_id_snapshot = models.BigIntegerField(verbose_name=_("category ID snapshot"))
    category_name = models.CharField(max_length=100, verbose_name=_("category name"))
    unit_price = models.DecimalField(max_digits=10, decimal_places=2, verbose_name=_("unit price"))
    quantity = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(QUANTITY_MIN), MaxValueValidator(QUANTITY_MAX)],
        verbose_name=_("quantity"),
    )
    line_total = models.DecimalField(max_digits=12, decimal_places=2, verbose_name=_("line total"))
    notes = models.CharField(max_length=200, blank=True, verbose_name=_("notes"))
    done = models.BooleanField(default=False, verbose_name=_("done"))
    done_at = models.DateTimeField(null=True, blank=True, verbose_name=_("done at"))
    # Set when an edit added the line after the task was sent: boards show such lines under
    # an "added" separator.
    added_at = models.DateTimeField(null=True, blank=True, verbose_name=_("added at"))

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

    business_date = models.DateField(primary_key=True, verbose_name=_("business date"))
    last_value = models.PositiveIntegerField(default=0, verbose_name=_("last value"))

    class Meta:
        verbose_name = _("daily sequence")
        verbose_name_plural = _("daily sequences")

    def __str__(self) -> str:
        return f"{self.business_date}: {self.last_value}"


class TaskNote(models.Model):
    """A note in a task's thread (a remark, a complaint), optionally with a feedback score of
    1-5 once the task is completed; reports average the scores."""

    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="thread", verbose_name=_("task")
    )
    author = tenant_user_fk(null=True, blank=True, verbose_name=_("author"))
    text = models.CharField(max_length=1000, verbose_name=_("text"))
    score = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(NOTE_SCORE_MIN), MaxValueValidator(NOTE_SCORE_MAX)],
        verbose_name=_("score"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

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

    key = models.CharField(max_length=255, verbose_name=_("key"))
    user = tenant_user_fk(verbose_name=_("user"))
    request_hash = models.CharField(max_length=64, verbose_name=_("request hash"))
    response_status = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name=_("response status")
    )
    response_body = models.JSONField(null=True, blank=True, verbose_name=_("response body"))
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("task")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key")]
        indexes = [models.Index(fields=["created_at"])]
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")

    def __str__(self) -> str:
        return self.key
