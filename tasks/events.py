"""The one place events are written and published.

``event_emit`` appends a ``TaskEvent`` in the caller's transaction and schedules its publication
for after the commit (``transaction.on_commit``): rolled-back work publishes nothing. The ``seq``
comes from a single counter row taken with an upsert; the row stays locked until commit, so
events commit in ``seq`` order and a screen catching up with ``after_seq`` never skips one.
Take every other row lock (tasks, agents, daily sequence) *before* emitting.
"""

import asyncio
import json
import logging
import os
import threading
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from .models import TaskEvent

logger = logging.getLogger(__name__)

# One round trip: take the next seq (locking the counter row until commit) and append the event.
# It runs at the end of every change, inside the part that concurrent changes wait for.
_EMIT_SQL = """
WITH counter AS (
    INSERT INTO tasks_eventcounter (id, last_seq) VALUES (1, 1)
    ON CONFLICT (id) DO UPDATE SET last_seq = tasks_eventcounter.last_seq + 1
    RETURNING last_seq
)
INSERT INTO tasks_taskevent (seq, type, task_id, category_ids, payload, at)
SELECT last_seq, %s, %s, %s::bigint[], %s::jsonb, %s FROM counter
RETURNING id, seq
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
    categories = sorted(set(category_ids))
    at = timezone.now()
    task_id = getattr(task, "pk", None)
    with connection.cursor() as cursor:
        cursor.execute(
            _EMIT_SQL,
            [str(type), task_id, categories, json.dumps(payload, cls=DjangoJSONEncoder), at],
        )
        event_id, seq = cursor.fetchone()
    event = TaskEvent(
        id=event_id, seq=seq, type=type, task=task, category_ids=categories, payload=payload, at=at
    )
    schema_name = connection.schema_name
    message = event_to_message(event)
    transaction.on_commit(lambda: event_publish(schema_name=schema_name, message=message))
    return event


_thread = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's own event loop, kept between events.

    channels-redis keeps one connection pool per event loop: ``async_to_sync`` would run every
    publish on a new loop (a new Redis connection, opened and closed, several milliseconds on
    the task-create path). A loop kept per thread reuses its connection.
    """
    loop = getattr(_thread, "loop", None)
    # A forked child (Celery prefork) must not share its parent's Redis sockets.
    if loop is None or loop.is_closed() or getattr(_thread, "pid", None) != os.getpid():
        loop = asyncio.new_event_loop()
        _thread.loop, _thread.pid = loop, os.getpid()
    return loop


def event_publish(*, schema_name: str, message: dict) -> None:
    """Fan an event out to the organization's connected screens (any process, any host)."""
    layer = get_channel_layer()
    if layer is None:
        return
    group = events_group_name(schema_name)
    body = {"type": "event.message", "event": message}
    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the usual case: sync code (WSGI, Celery, sync_to_async threads)
            _thread_loop().run_until_complete(layer.group_send(group, body))
        else:
            async_to_sync(layer.group_send)(group, body)
    except Exception:
        logger.exception("event publish failed", extra={"seq": message.get("seq")})
