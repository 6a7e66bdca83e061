from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import ActorType, EventType


def system_actor() -> dict:
    """The actor of changes nobody made by hand (expiry job, migrations)."""
    return {"type": ActorType.SYSTEM.value}


class EventCounter(models.Model):
    """A single row holding the last event ``seq``. Taking it FOR UPDATE as the last step of a
    transaction makes ``seq`` order equal commit order, so ``after_seq`` catch-up never skips
    an event that committed late."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, verbose_name=_("ID"))
    last_seq = models.BigIntegerField(default=0, verbose_name=_("last seq"))

    class Meta:
        # The table the tasks app created (the model moved here, the table stayed: migrations
        # events/0001 and tasks/0006 move it in Django's state only).
        db_table = "tasks_eventcounter"
        verbose_name = _("event counter")
        verbose_name_plural = _("event counters")

    def __str__(self) -> str:
        return str(self.last_seq)


class TaskEvent(models.Model):
    """Append-only log of every change, replayed to display screens after ``seq``."""

    seq = models.BigIntegerField(unique=True, verbose_name=_("sequence number"))
    type = models.CharField(max_length=32, choices=EventType.choices, verbose_name=_("type"))
    task = models.ForeignKey(
        "tasks.Task",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
        verbose_name=_("task"),
    )
    # Agent categories the event concerns: screens filter by station without loading tasks.
    category_ids = ArrayField(
        models.BigIntegerField(), default=list, blank=True, verbose_name=_("category IDs")
    )
    payload = models.JSONField(default=dict, verbose_name=_("payload"))
    # Who made the change: {"type": "user"|"screen", "id", "name"} or {"type": "system"}.
    # db_default: a row written by SQL without an actor (none today) is the system's.
    actor = models.JSONField(
        default=system_actor,
        db_default=models.Value({"type": ActorType.SYSTEM.value}, models.JSONField()),
        verbose_name=_("actor"),
    )
    at = models.DateTimeField(default=timezone.now, verbose_name=_("at"))

    class Meta:
        db_table = "tasks_taskevent"  # see EventCounter
        ordering = ["seq"]
        verbose_name = _("task event")
        verbose_name_plural = _("task events")

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"
