"""Events are written in the change's transaction and published only after it commits."""

import asyncio
import copy
import re
import uuid
from urllib.parse import urlsplit, urlunsplit

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings
from django_redis import get_redis_connection

from events.models import TaskEvent
from events.services import _server, events_group_name
from tasks.models import Task
from tasks.services import task_advance, task_create
from testing.events import assert_events, capture_events
from testing.factories import catalog_make


class Abort(Exception):
    pass


class Inbox:
    """Reads a channel with timeouts without ever cancelling the layer's ``receive``: the
    pub/sub layer drops a channel whose receive is cancelled (it takes that for a consumer
    leaving), so a pending receive is kept from one read to the next."""

    def __init__(self, layer, channel: str):
        self.layer, self.channel, self.pending = layer, channel, None

    async def get(self, timeout: float):
        if self.pending is None:
            self.pending = asyncio.ensure_future(self.layer.receive(self.channel))
        done, _ = await asyncio.wait({self.pending}, timeout=timeout)
        if not done:
            return None
        message, self.pending = self.pending.result(), None
        return message

    def close(self) -> None:
        if self.pending is not None:
            self.pending.cancel()


def test_rolled_back_work_publishes_nothing_and_committed_work_publishes_once(committed_org):
    catalog = catalog_make()
    user = committed_org.users["staff"]
    group = events_group_name(committed_org.schema)
    items = [
        {"agent_id": catalog.duck.id, "quantity": 8, "notes": ""},
        {"agent_id": catalog.tea.id, "quantity": 1, "notes": ""},
    ]

    def rolled_back_create() -> list[str]:
        try:
            with transaction.atomic():
                task_create(user=user, items=items)
                # Written in the same transaction: low stock first, the task last.
                raise Abort(list(TaskEvent.objects.order_by("seq").values_list("type", flat=True)))
        except Abort as abort:
            return abort.args[0]

    # The subscriber and the publisher share one event loop (the DB work runs in this thread
    # through sync_to_async): channel-layer receive buffers belong to one loop.
    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        inbox = Inbox(layer, channel)
        try:
            written = await sync_to_async(rolled_back_create)()
            assert written == ["task.created", "agent.low_stock"]
            # Gone with the rollback: nothing stored, nothing published.
            assert await sync_to_async(TaskEvent.objects.count)() == 0
            assert await sync_to_async(Task.objects.count)() == 0
            assert await inbox.get(1.0) is None

            task = await sync_to_async(task_create)(user=user, items=items)
            first = await inbox.get(5.0)
            second = await inbox.get(5.0)
            # Published in seq order: task.created (the function's), then the stock event the
            # threshold rule appended after it in the same transaction.
            assert first["type"] == second["type"] == "event.message"
            event = first["event"]
            assert event["type"] == "task.created"
            assert second["event"]["type"] == "agent.low_stock"
            assert second["event"]["seq"] == event["seq"] + 1
            assert event["data"]["id"] == task.id and event["data"]["number"] == task.number
            assert event["category_ids"] == sorted({catalog.hot.id, catalog.drinks.id})
            assert {i["category_id"] for i in event["data"]["items"]} == set(event["category_ids"])

            await sync_to_async(task_advance)(task_id=task.id)
            changed = (await inbox.get(5.0))["event"]
            assert changed["type"] == "task.status_changed"
            assert changed["data"]["status"] == "accepted"
            assert changed["seq"] == second["event"]["seq"] + 1
            assert await inbox.get(0.5) is None
        finally:
            inbox.close()
            await layer.group_discard(group, channel)

    with capture_events() as published:
        async_to_sync(scenario)()
    # Through the one publisher: the committed create's two events and the advance's, nothing
    # of the rolled-back create.
    assert published.types == ["task.created", "agent.low_stock", "task.status_changed"]
    assert set(published.schemas) == {committed_org.schema}


# --- the catalog version goes with the events ------------------------------------------------


def _redis_commands(block) -> list[dict]:
    """Every command Redis received while ``block()`` ran (MONITOR: every database, every
    connection), without MONITOR's own."""
    redis = get_redis_connection("default")
    with redis.monitor() as monitor:
        block()
        marker = f"end-of-block-{uuid.uuid4().hex}"
        redis.echo(marker)
        seen = []
        while marker not in (command := monitor.next_command())["command"]:
            seen.append(command)
    return seen


def _create_and_watch(committed_org) -> tuple[list[dict], str, str]:
    catalog = catalog_make()
    items = [{"agent_id": catalog.duck.id, "quantity": 1, "notes": ""}]  # duck has a stock
    version_key = cache.make_key("catalog:version")
    cache.set("catalog:version", "before", timeout=None)
    seen = _redis_commands(lambda: task_create(user=committed_org.users["staff"], items=items))
    relevant = [
        c
        for c in seen
        if c["command"].startswith(f"SET {version_key}") or c["command"].startswith("PUBLISH")
    ]
    return relevant, version_key, cache.get("catalog:version")


def test_create_sends_catalog_version_and_events_in_one_pipeline(committed_org):
    """The cache and the channel layer on one server (databases differ; pub/sub ignores them):
    the version SET and the PUBLISH go down the same connection, the SET first."""
    relevant, version_key, version = _create_and_watch(committed_org)
    channel = f"cc__group__events.{committed_org.schema}"
    assert [c["command"].split()[0] for c in relevant] == ["SET", "PUBLISH"], relevant
    assert relevant[0]["command"].startswith(f"SET {version_key}")
    assert relevant[1]["command"].startswith(f"PUBLISH {channel}")
    assert len({(c["client_address"], c["client_port"]) for c in relevant}) == 1, relevant
    # A new version, readable by the cache (same encoding as cache.set).
    assert re.fullmatch(r"[0-9a-f]{32}", version), version


def test_create_bumps_the_catalog_apart_when_the_layer_is_elsewhere(committed_org):
    """Another server for the channel layer (here the same one under another name): the
    version is set through the cache's connection, the events through the publisher's."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    host = layers["default"]["CONFIG"]["hosts"][0]
    parts = urlsplit(host["address"])
    host["address"] = urlunsplit(parts._replace(netloc=f"localhost:{parts.port or 6379}"))
    with override_settings(CHANNEL_LAYERS=layers):
        relevant, _key, version = _create_and_watch(committed_org)
    assert [c["command"].split()[0] for c in relevant] == ["SET", "PUBLISH"], relevant
    assert len({(c["client_address"], c["client_port"]) for c in relevant}) == 2, relevant
    # A new version, readable by the cache (same encoding as cache.set).
    assert re.fullmatch(r"[0-9a-f]{32}", version), version


def test_create_without_stock_leaves_the_catalog_version_alone(committed_org):
    catalog = catalog_make()
    cache.set("catalog:version", "before", timeout=None)
    items = [{"agent_id": catalog.tea.id, "quantity": 1, "notes": ""}]
    assert catalog.tea.stock is None
    with assert_events(1, types=["task.created"]):
        task_create(user=committed_org.users["staff"], items=items)
    assert cache.get("catalog:version") == "before"


def test_same_redis_server_ignores_the_database_only():
    assert _server("redis://127.0.0.1:6379/0") == _server("redis://127.0.0.1:6379/2")
    assert _server("redis://127.0.0.1/0") == _server("redis://127.0.0.1:6379/5")
    assert _server("redis://127.0.0.1:6379/0") != _server("redis://127.0.0.1:6380/0")
    assert _server("redis://:a@127.0.0.1:6379/0") != _server("redis://:b@127.0.0.1:6379/0")
    assert _server("unix:///run/a.sock?db=0") != _server("unix:///run/b.sock?db=0")
    assert _server(["redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1"]) is None
