"""Reads of the task flow."""

from django.db.models import QuerySet

from core.exceptions import NotFoundError
from events.models import TaskEvent

from .models import Task, TaskNote

_MAX_ID = 2**63 - 1


def access_task(*, task_id: int, lock: bool = False) -> Task:
    """The task ``task_id`` of the current organization, or a 404 in the envelope.

    With ``lock`` the row is taken FOR UPDATE (call inside a transaction): the first lock of
    every status change, before agents and the event counter.
    """
    if not 0 < task_id <= _MAX_ID:  # a path like /tasks/99999999999999999999/ is a 404, not a 500
        raise NotFoundError(details={"task_id": task_id})
    queryset = Task.objects.all()
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    task = queryset.filter(pk=task_id).first()
    if task is None:
        raise NotFoundError(details={"task_id": task_id})
    return task


def task_list() -> QuerySet[Task]:
    """Every task with its items prefetched (two queries whatever the page size)."""
    return Task.objects.prefetch_related("items")


def task_get(*, task_id: int) -> Task:
    if not 0 < task_id <= _MAX_ID:
        raise NotFoundError(details={"task_id": task_id})
    task = task_list().filter(pk=task_id).first()
    if task is None:
        raise NotFoundError(details={"task_id": task_id})
    return task


def task_note_list(*, task_id: int) -> QuerySet[TaskNote]:
    """A task's notes, oldest first, with their authors (404 for another organization's task)."""
    access_task(task_id=task_id)
    return TaskNote.objects.filter(task_id=task_id).select_related("author")


def task_event_list(*, after_seq: int, limit: int) -> list[TaskEvent]:
    """Committed events with ``seq > after_seq`` in ascending order, at most ``limit``."""
    return list(TaskEvent.objects.filter(seq__gt=after_seq).order_by("seq")[:limit])
