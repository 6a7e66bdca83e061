"""Cross-process delivery: two real server processes sharing one Redis, real WebSocket clients
(the ``websockets`` package), tasks created over HTTP on either server, concurrently, and by a
real Celery worker (expiry)."""

import asyncio
import json
import threading
from datetime import timedelta

import httpx
import pytest
import websockets
from django.utils import timezone

from accounts.tokens import tokens_for_membership
from tasks.services import task_create
from tasks.tasks import expire_pending

from .live import LiveServer, LiveWorker

PORTS = (8301, 8302)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    live = LiveWorker(tmp_path_factory.mktemp("worker")).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("servers")
    started = []
    try:
        for port in PORTS:
            started.append(LiveServer(port, log_dir).start())
        yield started
    finally:
        for server in started:
            server.stop()


def _ticket(port: int, host: str, token: str) -> str:
    response = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/realtime/tickets/",
        headers={"Host": host, "Authorization": f"Screen {token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


async def _collect(port, host, token, after_seq, until_seq, ready: asyncio.Event, timeout=30):
    ticket = await asyncio.to_thread(_ticket, port, host, token)
    uri = f"ws://{host}:{port}/ws/v1/tasks/?ticket={ticket}&after_seq={after_seq}"
    received = []
    async with websockets.connect(
        uri, host="127.0.0.1", port=port, origin=f"http://{host}:{port}", proxy=None
    ) as socket:
        hello = json.loads(await socket.recv())
        assert hello["type"] == "hello"
        ready.set()
        async with asyncio.timeout(timeout):
            while not received or received[-1] < until_seq:
                message = json.loads(await socket.recv())
                if message.get("type", "").startswith("task."):
                    received.append(message["seq"])
    return received


def test_events_reach_screens_on_both_processes_exactly_once(servers, rt_a, worker):
    _, token = rt_a.screen()
    base = rt_a.last_seq()
    membership_user = rt_a.org.users["staff"]
    jwt = str(
        tokens_for_membership(user=membership_user, organization=rt_a.org.organization).access_token
    )
    per_server, expected_http = 6, 12
    # One stale pending task for the Celery expiry job below.
    with rt_a.context():
        stale = task_create(
            user=membership_user,
            items=[{"agent_id": rt_a.soup.pk, "quantity": 1, "notes": ""}],
            now=timezone.now() - timedelta(hours=3),
        )
    base += 1
    total = expected_http + 1  # + the expiry event from the worker

    def post_tasks(port):
        with httpx.Client(timeout=20) as client:
            for index in range(per_server):
                response = client.post(
                    f"http://127.0.0.1:{port}/api/v1/tasks/",
                    headers={"Host": rt_a.host, "Authorization": f"Bearer {jwt}"},
                    json={"items": [{"agent_id": rt_a.beer.pk, "quantity": 1 + index}]},
                )
                assert response.status_code == 201, response.text

    async def body():
        ready = [asyncio.Event(), asyncio.Event()]
        collectors = [
            asyncio.create_task(_collect(port, rt_a.host, token, base, base + total, ready[index]))
            for index, port in enumerate(PORTS)
        ]
        await asyncio.gather(*(event.wait() for event in ready))
        # Both processes create tasks at the same time, and the worker expires the stale one.
        writers = [threading.Thread(target=post_tasks, args=(port,)) for port in PORTS]
        writers.append(threading.Thread(target=expire_via_worker))
        for writer in writers:
            writer.start()
        await asyncio.to_thread(lambda: [writer.join() for writer in writers])
        return await asyncio.gather(*collectors)

    result = {}

    def expire_via_worker():
        with rt_a.context():
            result["job"] = expire_pending.delay().get(timeout=30)

    received = asyncio.run(body())
    assert result["job"]["expired"] == 1
    expected = list(range(base + 1, base + total + 1))
    for seqs in received:
        assert seqs == expected
    with rt_a.context():
        stale.refresh_from_db()
    assert stale.status == "expired"
