"""The one place events are written and published.

``event_emit`` appends a ``TaskEvent`` in the caller's transaction and schedules its publication
for after the commit (``transaction.on_commit``): rolled-back work publishes nothing. The ``seq``
comes from a single counter row taken with an upsert; the row stays locked until commit, so
events commit in ``seq`` order and a screen catching up with ``after_seq`` never skips one.
Take every other row lock (tasks, agents, daily sequence) *before* emitting.
"""

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django_redis import get_redis_connection

from agents.cache import catalog_cache_bump

from .choices import ActorType
from .models import TaskEvent, system_actor

logger = logging.getLogger(__name__)

# One round trip: take the next seq (locking the counter row until commit) and append the event.
# It runs at the end of every change, inside the part that concurrent changes wait for.
_EMIT_SQL = """
WITH counter AS (
    INSERT INTO tasks_eventcounter (id, last_seq) VALUES (1, 1)
    ON CONFLICT (id) DO UPDATE SET last_seq = tasks_eventcounter.last_seq + 1
    RETURNING last_seq
)
INSERT INTO tasks_taskevent (seq, type, task_id, category_ids, payload, actor, at)
SELECT last_seq, %s, %s, %s::bigint[], %s::jsonb, %s::jsonb, %s FROM counter
RETURNING id, seq
"""


@dataclass(frozen=True)
class ScreenActor:
    """A display screen acting over its WebSocket (it is not a user)."""

    id: int
    name: str


def event_actor(*, user=None, screen: ScreenActor | None = None) -> dict:
    """The ``actor`` of an event: the screen, else the signed-in user, else the system."""
    if screen is not None:
        return {"type": ActorType.SCREEN.value, "id": screen.id, "name": screen.name}
    if user is not None and getattr(user, "is_authenticated", False):
        return {
            "type": ActorType.USER.value,
            "id": user.pk,
            "name": user.full_name or user.email,
        }
    return system_actor()


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
        "actor": event.actor,
        "data": event.payload,
    }


def event_emit(
    *,
    type: str,
    payload: dict,
    task=None,
    category_ids: Iterable[int] = (),
    actor: dict | None = None,
) -> TaskEvent:
    """Append an event (inside the current transaction) and publish it after commit.
    ``actor``: ``event_actor(...)``; the system when not given."""
    if not connection.in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction of the change it records")
    categories = sorted(set(category_ids))
    actor = actor or system_actor()
    at = timezone.now()
    task_id = getattr(task, "pk", None)
    with connection.cursor() as cursor:
        cursor.execute(
            _EMIT_SQL,
            [
                str(type),
                task_id,
                categories,
                json.dumps(payload, cls=DjangoJSONEncoder),
                json.dumps(actor),
                at,
            ],
        )
        event_id, seq = cursor.fetchone()
    event = TaskEvent(
        id=event_id,
        seq=seq,
        type=type,
        task=task,
        category_ids=categories,
        payload=payload,
        actor=actor,
        at=at,
    )
    events_publish_on_commit([event])
    return event


def events_publish_on_commit(events: list[TaskEvent], *, catalog_changed: bool = False) -> None:
    """Publish events already written in the current transaction, in order, once it commits
    (at once in autocommit mode, where the statement that wrote them has committed).

    ``catalog_changed``: the same change altered the catalog (a stock): its cached pages go
    stale in the same Redis round trip as the events (``events_publish``), instead of a
    ``catalog_cache_invalidate`` of their own.
    """
    if not events and not catalog_changed:
        return
    schema_name = connection.schema_name
    messages = [event_to_message(event) for event in events]

    transaction.on_commit(
        lambda: events_publish(
            schema_name=schema_name, messages=messages, catalog_changed=catalog_changed
        )
    )


_publisher: tuple[tuple[int, str], redis.Redis] | None = None  # per process and address


def _server(url) -> tuple | None:
    # What makes two Redis URLs the same server: pub/sub ignores the database number (the path
    # of a redis:// URL; a unix:// URL's path is the socket). None: not one URL (a list of
    # replicas, say), never taken for the same server.
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    socket_path = parts.path if parts.scheme == "unix" else ""
    return (
        parts.scheme,
        parts.hostname,
        parts.port or 6379,
        parts.username,
        parts.password,
        socket_path,
    )


def _publisher_client() -> tuple[redis.Redis, bool]:
    """A plain (sync) Redis client on the channel layer's server, and whether it is the cache's
    connection (the layer and the cache on one server, the usual case: the catalog version can
    then go in the same pipeline as the events)."""
    global _publisher
    hosts = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    if len(hosts) != 1:
        # Several shards would need the layer's consistent hashing of the group name.
        raise ImproperlyConfigured("tasks.events publishes to exactly one channel layer host")
    (host,) = hosts
    server = _server(host["address"])
    if server is not None and server == _server(settings.CACHES["default"]["LOCATION"]):
        return get_redis_connection("default"), True
    if _publisher is None or _publisher[0] != (os.getpid(), host["address"]):
        options = {key: value for key, value in host.items() if key != "address"}
        _publisher = (
            (os.getpid(), host["address"]),
            redis.Redis.from_url(host["address"], **options),
        )
    return _publisher[1], False


def _group_channel(group: str) -> str:
    # The Redis pub/sub channel RedisPubSubChannelLayer subscribes for a group
    # (channels_redis.pubsub.RedisPubSubLoopLayer._get_group_channel_name).
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi")
    return f"{prefix}__group__{group}"


def events_publish(
    *, schema_name: str, messages: list[dict], catalog_changed: bool = False
) -> None:
    """Fan events out to the organization's connected screens (any process, any host), and
    with ``catalog_changed`` replace the organization's catalog version first (a screen told of
    the change then reads the new catalog).

    This is what the channel layer's ``group_send`` does (one ``PUBLISH`` per message, with the
    layer's own serializer), done with a sync client in one pipelined round trip: it runs after
    every commit of every change, in WSGI threads and Celery workers, where driving the async
    layer means an event loop per thread and a round trip per message. The catalog version goes
    in the same pipeline when the cache is on the layer's server; a separate ``SET`` otherwise.
    """
    layer = get_channel_layer()
    if layer is None:
        messages = []
    if not messages and not catalog_changed:
        return
    channel = _group_channel(events_group_name(schema_name))
    try:
        client, shares_cache = _publisher_client()
        if catalog_changed and not shares_cache:
            catalog_cache_bump(schema_name)
        pipe = client.pipeline(transaction=False)
        if catalog_changed and shares_cache:
            catalog_cache_bump(schema_name, pipeline=pipe)
        for message in messages:
            pipe.publish(channel, layer.serialize({"type": "event.message", "event": message}))
        pipe.execute()
    except Exception:
        seq = messages[0].get("seq") if messages else None
        logger.exception("event publish failed", extra={"seq": seq})
