"""The display WebSocket through channels.testing.WebsocketCommunicator, against the real
database (committed data) and the real Redis channel layer."""

import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction

from accounts.models import Membership
from displays import consumers
from displays.services import screen_revoke
from organizations.models import Organization

from .conftest import communicator, receive_all, receive_until, run


def _is(kind):
    return lambda message: message.get("type") == kind


async def _ack_and_event(comm) -> tuple[dict, dict]:
    """The ack of an action and the event it caused (the event may come after the ack: it is
    published when the action's transaction commits)."""
    messages = await receive_until(comm, _is("ack"))
    events = [m for m in messages if m["type"].startswith("task.")]
    if not events:
        events = [(await receive_until(comm, lambda m: m["type"].startswith("task.")))[-1]]
    return messages[-1], events[-1]


async def _open(live, *, screen=None, user=None, after_seq=None, host=None, ticket=None):
    """Connect a socket; returns (communicator, messages up to the snapshot or hello)."""
    if ticket is None:
        ticket = await sync_to_async(live.ticket)(screen=screen, user=user)
    query = f"ticket={ticket}" + (f"&after_seq={after_seq}" if after_seq is not None else "")
    comm = communicator(host or live.host, query)
    connected, _ = await comm.connect()
    assert connected
    first = await comm.receive_json_from(timeout=5)
    if first["type"] == "error":
        return comm, [first]
    assert first["type"] == "hello"
    if after_seq is None:
        snapshot = await comm.receive_json_from(timeout=5)
        assert snapshot["type"] == "snapshot"
        return comm, [first, snapshot]
    return comm, [first]


async def _expect_refused(comm, code: str, close_code: int):
    message = await comm.receive_json_from(timeout=5)
    assert message["type"] == "error"
    assert message["code"] == code
    closed = await comm.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": close_code}
    await comm.disconnect()


class TestConnect:
    def test_snapshot_then_live_events(self, rt_a):
        screen, _ = rt_a.screen()
        task = rt_a.task(rt_a.soup)

        async def body():
            comm, (hello, snapshot) = await _open(rt_a, screen=screen)
            assert hello["principal"] == {
                "kind": "screen",
                "name": "Pass",
                "station": [],
                "mode": "line",
            }
            assert task.pk in [t["id"] for t in snapshot["tasks"]]
            assert snapshot["seq"] == await sync_to_async(rt_a.last_seq)()
            created = await sync_to_async(rt_a.task)(rt_a.beer)
            message = await comm.receive_json_from(timeout=5)
            assert message["type"] == "task.created"
            assert message["seq"] == snapshot["seq"] + 1
            assert message["data"]["id"] == created.pk
            assert message["data"]["number"] == created.number
            assert message["category_ids"] == [rt_a.bar.pk]
            await comm.disconnect()

        run(body)

    def test_replay_after_seq_then_live(self, rt_a):
        screen, _ = rt_a.screen()
        base = rt_a.last_seq()
        tasks = [rt_a.task(rt_a.soup) for _ in range(3)]

        async def body():
            comm, _ = await _open(rt_a, screen=screen, after_seq=base)
            replayed = [await comm.receive_json_from(timeout=5) for _ in range(3)]
            assert [m["seq"] for m in replayed] == [base + 1, base + 2, base + 3]
            assert [m["data"]["id"] for m in replayed] == [t.pk for t in tasks]
            await sync_to_async(rt_a.task)(rt_a.soup)
            live = await comm.receive_json_from(timeout=5)
            assert live["seq"] == base + 4
            assert await receive_all(comm, timeout=0.3) == []
            await comm.disconnect()

        run(body)

    def test_user_ticket(self, rt_a):
        async def body():
            comm, (hello, _) = await _open(rt_a, user=rt_a.org.users["staff"])
            assert hello["principal"]["kind"] == "user"
            assert hello["principal"]["name"] == "staff@" + rt_a.host.split(".")[0] + ".test"
            await comm.disconnect()

        run(body)

    def test_bad_after_seq(self, rt_a):
        screen, _ = rt_a.screen()

        async def body():
            ticket = await sync_to_async(rt_a.ticket)(screen=screen)
            comm = communicator(rt_a.host, f"ticket={ticket}&after_seq=-3")
            assert (await comm.connect())[0]
            await _expect_refused(comm, "INVALID_AFTER_SEQ", 4400)

        run(body)

    def test_too_far_behind_gets_resync_and_snapshot(self, rt_a, monkeypatch):
        monkeypatch.setattr(consumers, "REPLAY_LIMIT", 2)
        screen, _ = rt_a.screen()
        base = rt_a.last_seq()
        for _ in range(3):
            rt_a.task(rt_a.soup)

        async def body():
            comm, _ = await _open(rt_a, screen=screen, after_seq=base)
            resync = await comm.receive_json_from(timeout=5)
            assert resync == {"type": "resync", "reason": "too_far_behind"}
            snapshot = await comm.receive_json_from(timeout=5)
            assert snapshot["type"] == "snapshot" and snapshot["seq"] == base + 3
            assert await receive_all(comm, timeout=0.3) == []
            await comm.disconnect()

        run(body)

    def test_client_ahead_of_server_gets_resync(self, rt_a):
        screen, _ = rt_a.screen()

        async def body():
            comm, _ = await _open(rt_a, screen=screen, after_seq=10**12)
            assert (await comm.receive_json_from(timeout=5))["type"] == "resync"
            assert (await comm.receive_json_from(timeout=5))["type"] == "snapshot"
            await comm.disconnect()

        run(body)

    def test_resync_on_request(self, rt_a):
        screen, _ = rt_a.screen()

        async def body():
            comm, _ = await _open(rt_a, screen=screen)
            await comm.send_json_to({"type": "resync"})
            snapshot = await comm.receive_json_from(timeout=5)
            assert snapshot["type"] == "snapshot"
            await comm.disconnect()

        run(body)


class TestDeliveryGuarantee:
    def test_reconnects_under_concurrent_creation_miss_nothing_and_repeat_nothing(self, rt_a):
        screen, _ = rt_a.screen()
        base = rt_a.last_seq()
        total = 40
        done = threading.Event()

        def writer():
            try:
                for index in range(total):
                    rt_a.task(rt_a.soup if index % 2 else rt_a.beer)
            finally:
                connection.close()
                done.set()

        async def body():
            received: list[dict] = []
            cursor = base
            thread = threading.Thread(target=writer)
            thread.start()
            # Reconnect repeatedly while the writer commits, each time from the last seq seen.
            while not done.is_set() or cursor < base + total:
                comm, _ = await _open(rt_a, screen=screen, after_seq=cursor)
                batch = await receive_all(comm, timeout=0.15)
                await comm.disconnect()
                batch = [m for m in batch if m["type"].startswith("task.")]
                received += batch
                if batch:
                    cursor = batch[-1]["seq"]
            await sync_to_async(thread.join)()
            return received

        received = run(body)
        seqs = [m["seq"] for m in received]
        assert seqs == list(range(base + 1, base + total + 1))

    def test_concurrent_writers_live_stream_is_complete_and_ordered(self, rt_a):
        screen, _ = rt_a.screen()
        base = rt_a.last_seq()
        per_thread, threads = 10, 4

        def writer():
            try:
                for _ in range(per_thread):
                    rt_a.task(rt_a.soup, rt_a.beer)
            finally:
                connection.close()

        async def body():
            comm, _ = await _open(rt_a, screen=screen, after_seq=base)
            workers = [threading.Thread(target=writer) for _ in range(threads)]
            for worker in workers:
                worker.start()
            messages = await receive_until(
                comm, lambda m: m.get("seq") == base + per_thread * threads, timeout=10
            )
            for worker in workers:
                await sync_to_async(worker.join)()
            messages += await receive_all(comm, timeout=0.3)
            await comm.disconnect()
            return messages

        seqs = [m["seq"] for m in run(body)]
        assert seqs == list(range(base + 1, base + per_thread * threads + 1))

    def test_late_publication_is_filled_from_the_database(self, rt_a):
        """Process A commits seq N+1, process B commits N+2, and B's publication overtakes A's:
        the consumer reads N+1 from the database and drops the late copy."""
        screen, _ = rt_a.screen()
        base = rt_a.last_seq()

        def two_tasks_published_in_reverse():
            with rt_a.context(), transaction.atomic():
                rt_a.task(rt_a.soup)
                rt_a.task(rt_a.beer)
                connection.run_on_commit.reverse()

        async def body():
            comm, _ = await _open(rt_a, screen=screen, after_seq=base)
            await sync_to_async(two_tasks_published_in_reverse)()
            messages = await receive_all(comm, timeout=0.5)
            await comm.disconnect()
            return messages

        assert [m["seq"] for m in run(body)] == [base + 1, base + 2]

    def test_lost_publication_is_caught_up_at_the_recheck(self, rt_a, settings):
        """A commit whose publication never happens (Redis blip) still reaches the screen."""
        settings.WS_RECHECK_SECONDS = 1
        screen, _ = rt_a.screen()
        base = rt_a.last_seq()

        def task_without_publication():
            with rt_a.context(), transaction.atomic():
                rt_a.task(rt_a.soup)
                connection.run_on_commit.clear()

        async def body():
            comm, _ = await _open(rt_a, screen=screen, after_seq=base)
            await sync_to_async(task_without_publication)()
            message = await comm.receive_json_from(timeout=5)
            assert (message["type"], message["seq"]) == ("task.created", base + 1)
            assert await receive_all(comm, timeout=1.5) == []
            await comm.disconnect()

        run(body)

    def test_rolled_back_work_emits_nothing(self, rt_a):
        screen, _ = rt_a.screen()
        base = rt_a.last_seq()

        def rolled_back():
            with rt_a.context():
                try:
                    with transaction.atomic():
                        rt_a.task(rt_a.soup)
                        raise RuntimeError("abort")
                except RuntimeError:
                    pass

        async def body():
            comm, _ = await _open(rt_a, screen=screen, after_seq=base)
            await sync_to_async(rolled_back)()
            assert await receive_all(comm, timeout=0.4) == []
            await sync_to_async(rt_a.task)(rt_a.soup)
            # The rolled-back seq was given back: the next event is base + 1.
            assert (await comm.receive_json_from(timeout=5))["seq"] == base + 1
            await comm.disconnect()

        run(body)


class TestStationFilter:
    def test_station_screen_gets_only_its_categories(self, rt_a):
        bar_screen, _ = rt_a.screen(station=[rt_a.bar.pk], name="Bar")
        base = rt_a.last_seq()
        soup_task = rt_a.task(rt_a.soup)

        async def body():
            comm, (_, snapshot) = await _open(rt_a, screen=bar_screen)
            assert soup_task.pk not in [t["id"] for t in snapshot["tasks"]]
            beer = await sync_to_async(rt_a.task)(rt_a.beer)
            await sync_to_async(rt_a.task)(rt_a.soup)
            mixed = await sync_to_async(rt_a.task)(rt_a.soup, rt_a.beer)
            messages = await receive_all(comm, timeout=0.5)
            assert [m["data"]["id"] for m in messages] == [beer.pk, mixed.pk]
            await comm.disconnect()
            # Replay applies the same filter.
            comm, _ = await _open(rt_a, screen=bar_screen, after_seq=base)
            replayed = await receive_all(comm, timeout=0.5)
            assert [m["data"]["id"] for m in replayed] == [beer.pk, mixed.pk]
            await comm.disconnect()

        run(body)

    def test_all_station_screen_gets_everything(self, rt_a):
        screen, _ = rt_a.screen()
        base = rt_a.last_seq()
        rt_a.task(rt_a.soup)
        rt_a.task(rt_a.beer)

        async def body():
            comm, _ = await _open(rt_a, screen=screen, after_seq=base)
            messages = await receive_all(comm, timeout=0.5)
            await comm.disconnect()
            return messages

        assert len(run(body)) == 2


class TestIsolation:
    def test_ticket_of_one_organization_refused_on_another(self, rt_a, rt_b):
        screen, _ = rt_a.screen()

        async def body():
            ticket = await sync_to_async(rt_a.ticket)(screen=screen)
            comm = communicator(rt_b.host, f"ticket={ticket}")
            assert (await comm.connect())[0]
            await _expect_refused(comm, "INVALID_TICKET", 4401)

        run(body)

    def test_no_foreign_event_is_ever_delivered(self, rt_a, rt_b):
        screen_b, _ = rt_b.screen()

        async def body():
            comm, _ = await _open(rt_b, screen=screen_b)
            await sync_to_async(rt_a.task)(rt_a.soup)
            await sync_to_async(rt_a.task)(rt_a.beer)
            own = await sync_to_async(rt_b.task)(rt_b.soup)
            messages = await receive_all(comm, timeout=0.5)
            await comm.disconnect()
            return messages, own

        messages, own = run(body)
        assert [m["data"]["id"] for m in messages] == [own.pk]

    def test_unknown_host(self, rt_a):
        async def body():
            comm = communicator("nowhere.localhost", "ticket=x")
            assert (await comm.connect())[0]
            await _expect_refused(comm, "TENANT_NOT_FOUND", 4404)

        run(body)

    def test_platform_host_serves_no_stream(self, rt_a):
        async def body():
            comm = communicator("localhost", "ticket=x")
            assert (await comm.connect())[0]
            await _expect_refused(comm, "TENANT_NOT_FOUND", 4404)

        run(body)

    def test_suspended_organization(self, rt_b):
        screen, _ = rt_b.screen()
        Organization.objects.filter(pk=rt_b.org.organization.pk).update(is_active=False)
        try:

            async def body():
                ticket = await sync_to_async(rt_b.ticket)(screen=screen)
                comm = communicator(rt_b.host, f"ticket={ticket}")
                assert (await comm.connect())[0]
                await _expect_refused(comm, "ORGANIZATION_SUSPENDED", 4403)

            run(body)
        finally:
            Organization.objects.filter(pk=rt_b.org.organization.pk).update(is_active=True)


class TestOrigin:
    @pytest.mark.parametrize("origin", ["http://evil.example", None])
    def test_foreign_or_missing_origin_is_refused(self, rt_a, origin):
        async def body():
            comm = communicator(rt_a.host, "ticket=x", origin=origin)
            connected, _ = await comm.connect()
            assert not connected

        run(body)

    def test_origin_of_another_organization_is_refused(self, rt_a, rt_b):
        screen, _ = rt_a.screen()

        async def body():
            ticket = await sync_to_async(rt_a.ticket)(screen=screen)
            comm = communicator(rt_a.host, f"ticket={ticket}", origin=f"http://{rt_b.host}:8000")
            assert (await comm.connect())[0]
            await _expect_refused(comm, "ORIGIN_MISMATCH", 4403)

        run(body)

    def test_same_origin_with_port_is_accepted(self, rt_a):
        screen, _ = rt_a.screen()

        async def body():
            ticket = await sync_to_async(rt_a.ticket)(screen=screen)
            comm = communicator(
                f"{rt_a.host}:8000", f"ticket={ticket}", origin=f"http://{rt_a.host}:8000"
            )
            assert (await comm.connect())[0]
            assert (await comm.receive_json_from(timeout=5))["type"] == "hello"
            await comm.disconnect()

        run(body)


class TestTickets:
    def test_single_use(self, rt_a):
        screen, _ = rt_a.screen()

        async def body():
            ticket = await sync_to_async(rt_a.ticket)(screen=screen)
            comm, _ = await _open(rt_a, ticket=ticket)
            await comm.disconnect()
            again = communicator(rt_a.host, f"ticket={ticket}")
            assert (await again.connect())[0]
            await _expect_refused(again, "INVALID_TICKET", 4401)

        run(body)

    def test_expired(self, rt_a, settings):
        settings.WS_TICKET_TTL_SECONDS = 1
        screen, _ = rt_a.screen()

        async def body():
            import asyncio

            ticket = await sync_to_async(rt_a.ticket)(screen=screen)
            await asyncio.sleep(1.3)
            comm = communicator(rt_a.host, f"ticket={ticket}")
            assert (await comm.connect())[0]
            await _expect_refused(comm, "INVALID_TICKET", 4401)

        run(body)

    def test_missing_ticket(self, rt_a):
        async def body():
            comm = communicator(rt_a.host, "")
            assert (await comm.connect())[0]
            await _expect_refused(comm, "INVALID_TICKET", 4401)

        run(body)

    def test_ticket_of_revoked_screen(self, rt_a):
        screen, _ = rt_a.screen()
        ticket = rt_a.ticket(screen=screen)
        with rt_a.context():
            screen_revoke(screen_id=screen.pk)

        async def body():
            comm = communicator(rt_a.host, f"ticket={ticket}")
            assert (await comm.connect())[0]
            await _expect_refused(comm, "SCREEN_REVOKED", 4401)

        run(body)


class TestClientMessages:
    def test_ping_pong_and_server_heartbeat(self, rt_a, settings):
        settings.WS_HEARTBEAT_SECONDS = 1
        screen, _ = rt_a.screen()

        async def body():
            comm, (hello, _) = await _open(rt_a, screen=screen)
            assert hello["heartbeat_seconds"] == 1
            await comm.send_json_to({"type": "ping"})
            assert await comm.receive_json_from(timeout=5) == {"type": "pong"}
            assert await comm.receive_json_from(timeout=3) == {"type": "ping"}
            await comm.disconnect()

        run(body)

    def test_bump_advances_and_invalid_transition_is_an_error_not_a_close(self, rt_a):
        screen, _ = rt_a.screen()
        task = rt_a.task(rt_a.soup)

        async def body():
            comm, _ = await _open(
                rt_a, screen=screen, after_seq=await sync_to_async(rt_a.last_seq)()
            )
            statuses = []
            for _ in range(4):
                await comm.send_json_to({"type": "bump", "task_id": task.pk, "ref": "r1"})
                ack, event = await _ack_and_event(comm)
                assert ack["ref"] == "r1" and ack["task"]["id"] == task.pk
                statuses.append(ack["task"]["status"])
                assert event["type"] == "task.status_changed"
                assert event["data"]["status"] == ack["task"]["status"]
            assert statuses == ["accepted", "in_progress", "ready", "completed"]
            await comm.send_json_to({"type": "bump", "task_id": task.pk, "ref": "r2"})
            error = await comm.receive_json_from(timeout=5)
            assert error["type"] == "error"
            assert error["code"] == "INVALID_TRANSITION"
            assert error["ref"] == "r2"
            await comm.send_json_to({"type": "ping"})
            assert await comm.receive_json_from(timeout=5) == {"type": "pong"}
            await comm.disconnect()

        run(body)

    def test_item_done(self, rt_a):
        screen, _ = rt_a.screen()
        task = rt_a.task(rt_a.soup)
        with rt_a.context():
            item = task.items.get()

        async def body():
            comm, _ = await _open(
                rt_a, screen=screen, after_seq=await sync_to_async(rt_a.last_seq)()
            )
            await comm.send_json_to(
                {"type": "item_done", "task_id": task.pk, "item_id": item.pk, "done": True}
            )
            ack, event = await _ack_and_event(comm)
            assert ack["task"]["status"] == "ready"
            assert event["data"]["items"][0]["done"] is True
            assert event["data"]["status"] == "ready"
            await comm.disconnect()

        run(body)

    @pytest.mark.parametrize(
        ("message", "code"),
        [
            ({"type": "bump", "task_id": "7"}, "VALIDATION_ERROR"),
            ({"type": "bump"}, "VALIDATION_ERROR"),
            ({"type": "item_done", "task_id": 1, "item_id": -1}, "VALIDATION_ERROR"),
            ({"type": "item_done", "task_id": 1, "item_id": 1, "done": "yes"}, "VALIDATION_ERROR"),
            ({"type": "bump", "task_id": 999999999}, "NOT_FOUND"),
            ({"type": "dance"}, "UNKNOWN_MESSAGE"),
            ([1, 2], "MALFORMED_MESSAGE"),
        ],
    )
    def test_bad_messages_are_answered_not_fatal(self, rt_a, message, code):
        screen, _ = rt_a.screen()

        async def body():
            comm, _ = await _open(
                rt_a, screen=screen, after_seq=await sync_to_async(rt_a.last_seq)()
            )
            await comm.send_json_to(message)
            error = await comm.receive_json_from(timeout=5)
            assert error["type"] == "error" and error["code"] == code
            await comm.send_to(text_data="{not json")
            assert (await comm.receive_json_from(timeout=5))["code"] == "MALFORMED_MESSAGE"
            # Nesting past the interpreter's recursion limit is malformed too, not a crash.
            await comm.send_to(text_data="[" * 200_000 + "]" * 200_000)
            assert (await comm.receive_json_from(timeout=5))["code"] == "MALFORMED_MESSAGE"
            await comm.send_json_to({"type": "ping"})
            assert await comm.receive_json_from(timeout=5) == {"type": "pong"}
            await comm.disconnect()

        run(body)

    def test_user_whose_membership_is_removed_cannot_bump(self, rt_a, settings):
        settings.WS_RECHECK_SECONDS = 60
        staff = rt_a.org.users["staff"]
        task = rt_a.task(rt_a.soup)
        membership = Membership.objects.get(user=staff, organization=rt_a.org.organization)

        async def body():
            comm, _ = await _open(rt_a, user=staff, after_seq=await sync_to_async(rt_a.last_seq)())
            await sync_to_async(Membership.objects.filter(pk=membership.pk).delete)()
            await comm.send_json_to({"type": "bump", "task_id": task.pk})
            error = await comm.receive_json_from(timeout=5)
            assert error["code"] == "PERMISSION_DENIED"
            await comm.disconnect()

        try:
            run(body)
        finally:
            Membership.objects.create(
                user=staff, organization=rt_a.org.organization, role=membership.role
            )
        with rt_a.context():
            task.refresh_from_db()
        assert task.status == "pending"


class TestRevocation:
    def test_revoked_screen_is_disconnected(self, rt_a, settings):
        settings.WS_RECHECK_SECONDS = 1
        screen, _ = rt_a.screen()

        async def body():
            comm, _ = await _open(rt_a, screen=screen)

            def revoke():
                with rt_a.context():
                    screen_revoke(screen_id=screen.pk)

            await sync_to_async(revoke)()
            await _expect_refused(comm, "SCREEN_REVOKED", 4403)

        run(body)

    def test_suspended_organization_is_disconnected(self, rt_b, settings):
        settings.WS_RECHECK_SECONDS = 1
        screen, _ = rt_b.screen()

        async def body():
            comm, _ = await _open(rt_b, screen=screen)
            await sync_to_async(Organization.objects.filter(pk=rt_b.org.organization.pk).update)(
                is_active=False
            )
            await _expect_refused(comm, "ORGANIZATION_SUSPENDED", 4403)

        try:
            run(body)
        finally:
            Organization.objects.filter(pk=rt_b.org.organization.pk).update(is_active=True)

    def test_deactivated_user_is_disconnected(self, rt_a, settings):
        settings.WS_RECHECK_SECONDS = 1
        manager = rt_a.org.users["manager"]

        async def body():
            comm, _ = await _open(rt_a, user=manager)
            await sync_to_async(type(manager).objects.filter(pk=manager.pk).update)(is_active=False)
            await _expect_refused(comm, "MEMBERSHIP_REVOKED", 4403)

        try:
            run(body)
        finally:
            type(manager).objects.filter(pk=manager.pk).update(is_active=True)
