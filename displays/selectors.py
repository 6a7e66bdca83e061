"""Reads for screens and the realtime stream. Every function runs in the current schema."""

from collections.abc import Iterable
from datetime import timedelta

from django.db.models import F, Max, Q, QuerySet
from django.utils import timezone

from agents.models import Agent
from core.exceptions import NotFoundError
from events.models import TaskEvent
from events.services import event_to_message
from tasks.choices import ACTIVE_STATUSES, TASK_ORDERING, TaskStatus
from tasks.models import Task

from .models import Screen


def screen_list() -> QuerySet[Screen]:
    return Screen.objects.select_related("created_by").all()


def access_screen(*, screen_id, lock: bool = False) -> Screen:
    """The screen of the current organization, or 404 in the envelope."""
    queryset = Screen.objects.select_related("created_by")
    if lock:
        queryset = Screen.objects.select_for_update()
    try:
        return queryset.get(pk=int(screen_id))
    except (Screen.DoesNotExist, TypeError, ValueError):
        raise NotFoundError(code="SCREEN_NOT_FOUND") from None


def screen_get_by_token_hash(*, token_hash: str) -> Screen | None:
    return Screen.objects.filter(token_hash=token_hash).first()


def event_matches_station(*, category_ids: Iterable[int], station: Iterable[int]) -> bool:
    """All-station screens get everything; events concerning no category go to everyone."""
    station = set(station)
    category_ids = set(category_ids)
    if not station or not category_ids:
        return True
    return bool(station & category_ids)


def event_last_seq() -> int:
    return TaskEvent.objects.aggregate(last=Max("seq"))["last"] or 0


def event_list_after(*, after_seq: int, upto_seq: int | None = None, limit: int) -> list[dict]:
    """Committed events with ``after_seq < seq (<= upto_seq)``, in seq order, as wire messages."""
    queryset = TaskEvent.objects.filter(seq__gt=after_seq).order_by("seq")
    if upto_seq is not None:
        queryset = queryset.filter(seq__lte=upto_seq)
    return [event_to_message(event) for event in queryset[:limit]]


def event_count_after(*, after_seq: int, cap: int) -> int:
    """How many events follow ``after_seq``, counting at most ``cap + 1`` (cheap 'too far')."""
    return len(TaskEvent.objects.filter(seq__gt=after_seq).values_list("seq", flat=True)[: cap + 1])


def task_list_active_for_station(*, station: Iterable[int]) -> QuerySet[Task]:
    """The tasks a board shows (not finished), restricted to the station's categories."""
    station = list(station)
    queryset = Task.objects.filter(status__in=ACTIVE_STATUSES).prefetch_related("items")
    if station:
        queryset = queryset.filter(Q(items__category_id_snapshot__in=station)).distinct()
    # Pinned, then rush, then the longest waiting: the board's order (DESIGN section 5).
    return queryset.order_by(*TASK_ORDERING)


# The recall tray keeps this many bumped cards; the strip at most this many agents.
RECALL_TRAY_SIZE = 20
STOCK_ALERTS_LIMIT = 100


def task_list_recalled_candidates(
    *, station: Iterable[int], recall_minutes: int, limit: int = RECALL_TRAY_SIZE
) -> QuerySet[Task]:
    """Tasks completed within the recall window (the newest first), for a board's recall tray
    after a reload: they left the board, yet can still come back to it."""
    if recall_minutes <= 0:
        return Task.objects.none()
    since = timezone.now() - timedelta(minutes=recall_minutes)
    queryset = Task.objects.filter(status=TaskStatus.COMPLETED, completed_at__gte=since)
    station = list(station)
    if station:
        queryset = queryset.filter(
            pk__in=Task.objects.filter(items__category_id_snapshot__in=station).values("pk")
        )
    return queryset.prefetch_related("items").order_by("-completed_at", "-id")[:limit]


def agent_list_stock_alerts(*, station: Iterable[int]) -> list[dict]:
    """Agents sold out or at/under their low-stock threshold, for the board's strip: the same
    payload as the ``agent.sold_out`` / ``agent.low_stock`` events."""
    queryset = Agent.objects.filter(stock__isnull=False, stock__lte=F("low_stock_threshold"))
    station = list(station)
    if station:
        queryset = queryset.filter(category_id__in=station)
    rows = queryset.order_by("stock", "name", "id").values(
        "id", "name", "stock", "low_stock_threshold", "category_id"
    )[:STOCK_ALERTS_LIMIT]
    return [
        {
            "agent_id": row["id"],
            "name": row["name"],
            "stock": row["stock"],
            "low_stock_threshold": row["low_stock_threshold"],
            "category_id": row["category_id"],
        }
        for row in rows
    ]
