"""The one place events are written and published (agents and tasks append through here).

``event_emit`` appends a ``TaskEvent`` in the caller's transaction and schedules its publication
for after the commit (``transaction.on_commit``): rolled-back work publishes nothing. The append
is the SQL function ``cc_event_append`` (events/migrations/0001), also called by the task-create
function: one definition of the counter. The ``seq`` comes from a single counter row taken with
an upsert; the row stays locked until commit, so events commit in ``seq`` order and a screen
catching up with ``after_seq`` never skips one. Take every other row lock (tasks, agents, daily
sequence) *before* emitting.

This module knows nothing of the apps whose changes it records: a caller that must send
something in the same Redis round trip as the publication (the catalog version after a stock
change) passes it as a hook (``also``).
"""

import json
import logging
import os
from collections.abc import Callable, Iterable
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

from .choices import ActorType
from .models import TaskEvent, system_actor

logger = logging.getLogger(__name__)

# cc_event_append(type, task_id, category_ids, payload, actor, at) -> seq: one round trip, run
# at the end of every change, inside the part that concurrent changes wait for.
_APPEND_SQL = "SELECT cc_event_append(%s, %s, %s::bigint[], %s::jsonb, %s::jsonb, %s)"

# A hook run after commit with the publication's Redis pipeline when that pipeline is on the
# cache's connection (queue commands on it: they go in the events' round trip), else with None
# (send them yourself).
PublishHook = Callable[..., None]


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
    ``actor``: ``event_actor(...)``; the system when not given. The event returned carries its
    ``seq`` (not its row id: nothing reads it)."""
    if not connection.in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction of the change it records")
    categories = sorted(set(category_ids))
    actor = actor or system_actor()
    at = timezone.now()
    task_id = getattr(task, "pk", None)
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_SQL,
            [
                str(type),
                task_id,
                categories,
                json.dumps(payload, cls=DjangoJSONEncoder),
                json.dumps(actor),
                at,
            ],
        )
        (seq,) = cursor.fetchone()
    event = TaskEvent(
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


def events_publish_on_commit(events: list[TaskEvent], *, also: PublishHook | None = None) -> None:
    """Publish events already written in the current transaction, in order, once it commits
    (at once in autocommit mode, where the statement that wrote them has committed).

    ``also``: a hook called with ``pipeline=`` in the same round trip (``PublishHook``): the
    task create sends the catalog version bump this way
    (``agents.cache.catalog_cache_bump``) instead of a round trip of its own.
    """
    if not events and also is None:
        return
    schema_name = connection.schema_name
    messages = [event_to_message(event) for event in events]

    transaction.on_commit(
        lambda: events_publish(schema_name=schema_name, messages=messages, also=also)
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
    connection (the layer and the cache on one server, the usual case: a hook's commands can
    then go in the same pipeline as the events)."""
    global _publisher
    hosts = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    if len(hosts) != 1:
        # Several shards would need the layer's consistent hashing of the group name.
        raise ImproperlyConfigured("events publishes to exactly one channel layer host")
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
    *, schema_name: str, messages: list[dict], also: PublishHook | None = None
) -> None:
    """Fan events out to the organization's connected screens (any process, any host), after
    running ``also`` (a screen told of a change then reads its result).

    This is what the channel layer's ``group_send`` does (one ``PUBLISH`` per message, with the
    layer's own serializer), done with a sync client in one pipelined round trip: it runs after
    every commit of every change, in WSGI threads and Celery workers, where driving the async
    layer means an event loop per thread and a round trip per message. ``also`` queues its
    commands in the same pipeline when the cache is on the layer's server; it sends them
    itself otherwise.
    """
    layer = get_channel_layer()
    if layer is None:
        messages = []
    if not messages and also is None:
        return
    channel = _group_channel(events_group_name(schema_name))
    try:
        client, shares_cache = _publisher_client()
        if also is not None and not shares_cache:
            also(pipeline=None)
        pipe = client.pipeline(transaction=False)
        if also is not None and shares_cache:
            also(pipeline=pipe)
        for message in messages:
            pipe.publish(channel, layer.serialize({"type": "event.message", "event": message}))
        pipe.execute()
    except Exception:
        seq = messages[0].get("seq") if messages else None
        logger.exception("event publish failed", extra={"seq": seq})
