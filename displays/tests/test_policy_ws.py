"""WebSocket actions read the role table (core.policy, keys ``("ws", action)``): over a real
socket (channels' communicator, the Redis channel layer, committed data)."""

import pytest
from asgiref.sync import sync_to_async

from core import policy
from core.exceptions import ApplicationError
from displays import realtime
from displays.constants import PrincipalKind

from .conftest import communicator, receive_until, run


async def _socket(live, *, screen=None, user=None):
    ticket = await sync_to_async(live.ticket)(screen=screen, user=user)
    after_seq = await sync_to_async(live.last_seq)()
    comm = communicator(live.host, f"ticket={ticket}&after_seq={after_seq}")
    connected, _ = await comm.connect()
    assert connected
    return comm, await comm.receive_json_from(timeout=5)


async def _bump(comm, task_id: int) -> dict:
    """The answer to a bump: its ack, or the error."""
    await comm.send_json_to({"type": "bump", "task_id": task_id, "ref": "p"})
    messages = await receive_until(comm, lambda m: m.get("type") in ("ack", "error"))
    return messages[-1]


@pytest.mark.parametrize("who", ["staff", "screen"])
def test_staff_and_screens_may_bump(rt_a, who):
    assert policy.POLICY[(policy.WS, "bump")] == policy.STAFF_OR_SCREEN
    task = rt_a.task(rt_a.soup)
    screen = rt_a.screen()[0] if who == "screen" else None
    user = rt_a.org.users["staff"] if who == "staff" else None

    async def body():
        comm, hello = await _socket(rt_a, screen=screen, user=user)
        assert hello["type"] == "hello"
        answer = await _bump(comm, task.pk)
        assert answer["type"] == "ack", answer
        assert answer["task"] == {"id": task.pk, "status": "accepted"}
        await comm.disconnect()

    run(body)


def test_an_action_the_table_gives_managers_is_refused_to_staff_and_screens(rt_a, monkeypatch):
    """No WebSocket action needs a manager today: raise bump to managers in the table and the
    socket follows it, for users by the role they have now and for screens (not members)."""
    monkeypatch.setitem(policy.POLICY, (policy.WS, "bump"), policy.MANAGER)
    task = rt_a.task(rt_a.soup)
    screen, _ = rt_a.screen()

    async def body():
        for principal in ({"user": rt_a.org.users["staff"]}, {"screen": screen}):
            comm, _hello = await _socket(rt_a, **principal)
            answer = await _bump(comm, task.pk)
            assert answer["type"] == "error" and answer["code"] == "PERMISSION_DENIED", answer
            await comm.disconnect()
        comm, _hello = await _socket(rt_a, user=rt_a.org.users["manager"])
        answer = await _bump(comm, task.pk)
        assert answer["type"] == "ack" and answer["task"]["status"] == "accepted", answer
        await comm.disconnect()

    run(body)
    with rt_a.context():
        task.refresh_from_db()
    assert task.status == "accepted"  # only the manager's bump went through


def test_connecting_reads_the_table_too(rt_a, monkeypatch):
    monkeypatch.setitem(policy.POLICY, (policy.WS, "connect"), policy.MANAGER)

    async def body():
        comm, first = await _socket(rt_a, user=rt_a.org.users["staff"])
        assert first["type"] == "error" and first["code"] == "PERMISSION_DENIED"
        await comm.disconnect()
        comm, first = await _socket(rt_a, user=rt_a.org.users["manager"])
        assert first["type"] == "hello"
        await comm.disconnect()

    run(body)


@pytest.mark.parametrize("kind", [PrincipalKind.USER, PrincipalKind.SCREEN])
def test_an_action_without_an_entry_is_refused(rt_a, kind):
    """The owner cannot take an action the table does not name (fail closed), nor can a screen;
    the task is untouched."""
    task = rt_a.task(rt_a.soup)
    if kind == PrincipalKind.SCREEN:
        principal_id = rt_a.screen()[0].pk
    else:
        principal_id = rt_a.org.users["owner"].pk
    session = realtime.Session(kind=kind, principal_id=principal_id, name="policy")
    assert (policy.WS, "cancel") not in policy.POLICY
    with rt_a.context(), pytest.raises(ApplicationError) as refused:
        realtime.action_run(session=session, action="cancel", payload={"task_id": task.pk})
    assert refused.value.code == "PERMISSION_DENIED"
    assert refused.value.status_code == 403
    with rt_a.context():
        task.refresh_from_db()
    assert task.status == "pending"
