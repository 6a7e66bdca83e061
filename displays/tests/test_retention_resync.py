"""A screen reconnecting after retention pruned events it has not seen (DESIGN 12): it gets a
``resync`` and a snapshot flagged ``resync: true`` instead of a replay with a hole; with an
``after_seq`` the log still covers, it gets the exact replay, then live events. Real channels
layer (Redis pub/sub), committed data, the real pruning service."""

import contextlib
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from events.models import TaskEvent
from events.retention import event_prune
from organizations.models import Organization

from .conftest import _live_org, communicator, receive_all, run


@pytest.fixture
def live(live_db):
    org = _live_org(f"rtr-{uuid.uuid4().hex[:6]}")
    yield org
    connection.set_schema_to_public()
    with contextlib.suppress(Exception):
        Organization.objects.get(pk=org.org.organization.pk).delete(force_drop=True)


async def _connect(live, screen, after_seq: int):
    ticket = await sync_to_async(live.ticket)(screen=screen)
    comm = communicator(live.host, f"ticket={ticket}&after_seq={after_seq}")
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    return comm


def test_pruned_after_seq_gets_a_snapshot_and_a_covered_one_the_exact_replay(live):
    screen, _token = live.screen()
    tasks = [live.task(live.soup), live.task(live.beer), live.task(live.soup), live.task(live.soup)]
    with live.context():
        seqs = list(TaskEvent.objects.order_by("seq").values_list("seq", flat=True))
        assert len(seqs) == 4
        TaskEvent.objects.filter(seq__in=seqs[:2]).update(at=timezone.now() - timedelta(days=31))
        assert event_prune(retention_days=30) == 2
    connection.set_schema_to_public()
    oldest_kept = seqs[2]

    async def body():
        # Seen up to the first event only: the second is gone, a replay would skip it.
        comm = await _connect(live, screen, after_seq=seqs[0])
        resync = await comm.receive_json_from(timeout=5)
        assert resync == {"type": "resync", "reason": "events_pruned"}
        snapshot = await comm.receive_json_from(timeout=5)
        assert snapshot["type"] == "snapshot" and snapshot["resync"] is True
        assert snapshot["seq"] == seqs[-1]
        assert {task["id"] for task in snapshot["tasks"]} == {task.pk for task in tasks}
        assert await receive_all(comm, timeout=0.3) == []
        # Live events follow the snapshot as usual.
        created = await sync_to_async(live.task)(live.soup)
        live_event = await comm.receive_json_from(timeout=5)
        assert (live_event["type"], live_event["seq"]) == ("task.created", seqs[-1] + 1)
        assert live_event["data"]["id"] == created.pk
        await comm.disconnect()

        # Seen everything up to the oldest kept event's predecessor: nothing is missing, so
        # the exact replay, no resync, no snapshot.
        comm = await _connect(live, screen, after_seq=oldest_kept - 1)
        replayed = await receive_all(comm, timeout=0.3)
        assert [(m["type"], m["seq"]) for m in replayed] == [
            ("task.created", seq) for seq in [*seqs[2:], seqs[-1] + 1]
        ]
        assert [m["data"]["id"] for m in replayed] == [tasks[2].pk, tasks[3].pk, created.pk]
        await comm.disconnect()

        # And from the newest seq: nothing to replay, then live.
        comm = await _connect(live, screen, after_seq=seqs[-1] + 1)
        assert await receive_all(comm, timeout=0.3) == []
        await sync_to_async(live.task)(live.beer)
        assert (await comm.receive_json_from(timeout=5))["seq"] == seqs[-1] + 2
        await comm.disconnect()

    run(body)
