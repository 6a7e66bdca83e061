"""The one place events are written and published.

``event_emit`` appends a ``TaskEvent`` in the caller's transaction and schedules its publication
for after the commit (``transaction.on_commit``): rolled-back work publishes nothing. The ``seq``
comes from a single counter row taken with an upsert; the row stays locked until commit, so
events commit in ``seq`` order and a screen catching up with ``after_seq`` never skips one.
Take every other row lock (tasks, agents, daily sequence) *before* emitting.
"""

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from .models import TaskEvent

logger = logging.getLogger(__name__)

_NEXT_SEQ_SQL = """
INSERT INTO tasks_eventcounter (id, last_seq) VALUES (1, 1)
ON CONFLICT (id) DO UPDATE SET last_seq = tasks_eventcounter.last_seq + 1
RETURNING last_seq
"""


def events_group_name(schema_name: str) -> str:
    """The channel-layer group of one organization's event stream."""
    return f"events.{schema_name}"


def event_to_message(event: TaskEvent) -> dict:
    """The wire format screens receive (DESIGN.md section 6)."""
    return {
        "type": event.type,
        "seq": event.seq,
        "at": timezone.localtime(event.at).isoformat(),
        "category_ids": list(event.category_ids),
        "data": event.payload,
    }


def event_emit(
    *, type: str, payload: dict, task=None, category_ids: Iterable[int] = ()
) -> TaskEvent:
    """Append an event (inside the current transaction) and publish it after commit."""
    if not connection.in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction of the change it records")
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_SEQ_SQL)
        (seq,) = cursor.fetchone()
    event = TaskEvent.objects.create(
        seq=seq,
        type=type,
        task=task,
        category_ids=sorted(set(category_ids)),
        payload=payload,
        at=timezone.now(),
    )
    schema_name = connection.schema_name
    message = event_to_message(event)
    transaction.on_commit(lambda: event_publish(schema_name=schema_name, message=message))
    return event


def event_publish(*, schema_name: str, message: dict) -> None:
    """Fan an event out to the organization's connected screens (any process, any host)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            events_group_name(schema_name), {"type": "event.message", "event": message}
        )
    except Exception:
        logger.exception("event publish failed", extra={"seq": message.get("seq")})
