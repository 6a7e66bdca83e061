from django.db import models
from django.utils.translation import gettext_lazy as _


class TaskStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACCEPTED = "accepted", _("Accepted")
    IN_PROGRESS = "in_progress", _("In progress")
    READY = "ready", _("Ready")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


# The status machine: every allowed move, nothing else (409 INVALID_TRANSITION otherwise).
TRANSITIONS: dict[str, frozenset[str]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.ACCEPTED, TaskStatus.CANCELLED, TaskStatus.EXPIRED}),
    TaskStatus.ACCEPTED: frozenset({TaskStatus.IN_PROGRESS, TaskStatus.CANCELLED}),
    TaskStatus.IN_PROGRESS: frozenset({TaskStatus.READY, TaskStatus.CANCELLED}),
    TaskStatus.READY: frozenset({TaskStatus.COMPLETED}),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
    TaskStatus.EXPIRED: frozenset(),
}
ACTIVE_STATUSES = (
    TaskStatus.PENDING,
    TaskStatus.ACCEPTED,
    TaskStatus.IN_PROGRESS,
    TaskStatus.READY,
)
# Which timestamp each status stamps when entered.
STATUS_TIMESTAMP = {
    TaskStatus.ACCEPTED: "accepted_at",
    TaskStatus.IN_PROGRESS: "started_at",
    TaskStatus.READY: "ready_at",
    TaskStatus.COMPLETED: "completed_at",
    TaskStatus.CANCELLED: "cancelled_at",
    TaskStatus.EXPIRED: "expired_at",
}


class TaskPriority(models.TextChoices):
    # Ordering relies on "rush" > "normal" as text (``-priority`` puts rush first): a third
    # level would need an explicit rank.
    NORMAL = "normal", _("Normal")
    RUSH = "rush", _("Rush")


# Lists and boards: pinned, then rush, then age (the longest waiting first).
TASK_ORDERING = ["-pinned", "-priority", "created_at", "id"]


# Event types and actors: events.choices (the event log is the events app's).


# The "bump" of a display screen: the next status on the happy path.
ADVANCE: dict[str, str] = {
    TaskStatus.PENDING: TaskStatus.ACCEPTED,
    TaskStatus.ACCEPTED: TaskStatus.IN_PROGRESS,
    TaskStatus.IN_PROGRESS: TaskStatus.READY,
    TaskStatus.READY: TaskStatus.COMPLETED,
}
# Items can be marked (un)done while the task is still being worked on.
ITEM_MARKABLE_STATUSES = (TaskStatus.PENDING, TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS)
# A task can be edited (fields and items) until the kitchen starts it.
EDITABLE_STATUSES = (TaskStatus.PENDING, TaskStatus.ACCEPTED)
# Recall (undo a bump): the status it goes back to, and the timestamp the window runs from
# (cleared by the recall: the task is no longer ready / completed).
RECALL: dict[str, tuple[str, str]] = {
    TaskStatus.READY: (TaskStatus.IN_PROGRESS, "ready_at"),
    TaskStatus.COMPLETED: (TaskStatus.READY, "completed_at"),
}
