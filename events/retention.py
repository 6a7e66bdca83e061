"""Retention of the event log (DESIGN 12): task events older than the organization's
``event_retention_days`` are deleted by a daily beat job, in batches.

Events go oldest first, as a prefix of the log in ``seq`` order, and the newest event is always
kept. So the log has no holes (every seq from the oldest kept one to the last is there) and its
last seq stays known: a screen whose ``after_seq`` is older than the oldest kept event is told
to resync and gets a snapshot (displays.consumers), never a replay with a hole.
"""

import datetime as dt

import structlog
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from .models import TaskEvent

logger = structlog.get_logger(__name__)

# Rows per DELETE statement and per transaction: short locks, bounded WAL bursts.
EVENT_PRUNE_BATCH = 5000


def event_pruned_through() -> int:
    """The highest seq no longer in the log (0 when nothing was ever pruned): a replay from an
    ``after_seq`` below it would skip events."""
    oldest = TaskEvent.objects.aggregate(oldest=Min("seq"))["oldest"]
    return (oldest - 1) if oldest else 0


def event_prune(
    *, now: dt.datetime | None = None, retention_days: int | None = None, batch_size: int = 0
) -> int:
    """Delete the current organization's task events older than its ``event_retention_days``
    (``retention_days`` overrides it), ``batch_size`` rows per statement. Returns how many."""
    batch_size = batch_size or EVENT_PRUNE_BATCH
    if retention_days is None:
        retention_days = connection.tenant.event_retention_days
    cutoff = (now or timezone.now()) - dt.timedelta(days=retention_days)
    # The model's own table name, quoted; every value is a parameter.
    table = connection.ops.quote_name(TaskEvent._meta.db_table)
    with connection.cursor() as cursor:
        # The first event young enough to keep, found by walking the seq index from the oldest
        # (no index on ``at``: the walk stops after the rows that go anyway).
        cursor.execute(
            f"SELECT seq FROM {table} WHERE at >= %s ORDER BY seq LIMIT 1",  # noqa: S608
            [cutoff],
        )
        row = cursor.fetchone()
        cursor.execute(f"SELECT max(seq) FROM {table}")  # noqa: S608
        (last,) = cursor.fetchone()
    if last is None:
        return 0
    # Everything before the first young event; never the newest one (the last seq stays known).
    through = min(row[0] - 1 if row else last, last - 1)
    deleted = batches = 0
    while through > 0:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN "  # noqa: S608
                f"(SELECT id FROM {table} WHERE seq <= %s ORDER BY seq LIMIT %s)",
                [through, batch_size],
            )
            count = cursor.rowcount
        deleted += count
        batches += 1
        if count < batch_size:
            break
    logger.info(
        "task_events_pruned",
        schema=connection.schema_name,
        deleted=deleted,
        batches=batches,
        through_seq=through,
        cutoff=cutoff.isoformat(),
    )
    return deleted
