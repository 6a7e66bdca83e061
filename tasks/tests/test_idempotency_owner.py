"""Who may take over an ``Idempotency-Key`` claim: only a request that proves the first owner
is gone. Real threads, real PostgreSQL row locks, committed data."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

from agents.models import Agent
from tasks.idempotency import _lock_id, request_fingerprint
from tasks.models import IdempotencyKey, Task
from testing.factories import catalog_make

URL = "/api/v1/tasks/"
KEY = "slow-first-create"


def _dsn() -> str:
    db = settings.DATABASES["default"]
    return psycopg.conninfo.make_conninfo(
        dbname=db["NAME"],
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
    )


def _waiting_creates(cursor) -> int:
    cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE %s",
        ["%cc_task_create%"],
    )
    return cursor.fetchone()[0]


def _post(client, body):
    try:
        response = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
        return response.status_code, response.json(), response.get("Idempotent-Replayed")
    finally:
        connection.close()


def test_a_retry_during_a_slow_first_create_is_409_and_never_a_second_task(committed_org):
    duck = catalog_make().duck  # stock 10: create locks its row
    body = {"items": [{"agent_id": duck.id, "quantity": 1}], "workspace": "A01"}
    first_client, retry_client = committed_org.client("staff"), committed_org.client("staff")
    for client in (first_client, retry_client):
        client.get("/health/")  # build the middleware chain outside the race

    blocker = psycopg.connect(_dsn())
    watcher = psycopg.connect(_dsn(), autocommit=True)
    pool = ThreadPoolExecutor(max_workers=2)
    retry = None
    try:
        # Another transaction holds the agent's row: the first create waits inside its
        # transaction, with its claim written and no answer stored.
        blocker.execute(
            f'SELECT id FROM "{committed_org.schema}".agents_agent WHERE id = %s FOR UPDATE',
            [duck.id],
        )
        first = pool.submit(_post, first_client, body)
        deadline = time.monotonic() + 20
        while _waiting_creates(watcher.cursor()) == 0:
            assert time.monotonic() < deadline, "the first create never reached the lock"
            assert not first.done(), first.result()
            time.sleep(0.05)
        # "60 s into the first create": its claim looks old.
        claimed_at = IdempotencyKey.objects.get(key=KEY).created_at
        aged = IdempotencyKey.objects.filter(key=KEY).update(
            created_at=claimed_at - timedelta(minutes=2)
        )
        assert aged == 1
        started = time.monotonic()
        retry = pool.submit(_post, retry_client, body)
        try:
            retry_answer = retry.result(timeout=10)
        except TimeoutError:
            retry_answer = None  # it took the claim over and now waits for the agent too
        retry_seconds = time.monotonic() - started
    finally:
        blocker.rollback()
        blocker.close()
        watcher.close()
    first_answer = first.result(timeout=30)
    if retry_answer is None:
        retry_answer = retry.result(timeout=30)
    pool.shutdown()

    assert first_answer[0] == 201, first_answer
    assert retry_answer[0] == 409, retry_answer
    assert retry_answer[1]["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert retry_seconds < 5  # answered at once, not after the first create
    assert Task.objects.count() == 1
    assert Agent.objects.get(pk=duck.pk).stock == 9
    # Once the first answer is stored, the same retry replays it.
    status, replay, replayed = _post(committed_org.client("staff"), body)
    assert (status, replay["id"], replayed) == (201, first_answer[1]["id"], "true")
    assert Task.objects.count() == 1


def test_a_claim_whose_owner_is_gone_is_taken_over_at_once(committed_org):
    """A claim row with no answer and no live owner (its process was killed after claiming):
    the retry proves that with the key's lock and does the work, without waiting."""
    tea = catalog_make().tea
    body = {"items": [{"agent_id": tea.id, "quantity": 2}]}
    IdempotencyKey.objects.create(
        key=KEY, user=committed_org.users["staff"], request_hash=request_fingerprint(body)
    )
    status, answer, _replayed = _post(committed_org.client("staff"), body)
    assert status == 201, answer
    record = IdempotencyKey.objects.get(key=KEY)
    assert (record.response_status, record.task_id) == (201, answer["id"])
    assert Task.objects.count() == 1


def test_a_live_owner_in_another_session_keeps_its_key(committed_org):
    """The owner is alive as long as its PostgreSQL session holds the key's lock, whatever the
    claim's age: a retry is 409 and writes nothing."""
    tea = catalog_make().tea
    body = {"items": [{"agent_id": tea.id, "quantity": 1}]}
    staff = committed_org.users["staff"]
    IdempotencyKey.objects.create(key=KEY, user=staff, request_hash=request_fingerprint(body))
    IdempotencyKey.objects.filter(key=KEY).update(created_at=timezone.now() - timedelta(hours=1))
    lock = _lock_id(user_id=staff.pk, key=KEY)
    owner = psycopg.connect(_dsn(), autocommit=True)
    try:
        owner.execute("SELECT pg_advisory_lock(%s)", [lock])
        status, answer, _replayed = _post(committed_org.client("staff"), body)
        other_body = {"items": [{"agent_id": tea.id, "quantity": 3}]}
        other_status, other_answer, _ = _post(committed_org.client("staff"), other_body)
    finally:
        owner.close()  # the owner's session ends: its lock goes with it
    assert (status, answer["error"]["code"]) == (409, "IDEMPOTENCY_IN_PROGRESS")
    assert (other_status, other_answer["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert Task.objects.count() == 0
    # Owner gone: the retry takes the claim over.
    status, answer, _replayed = _post(committed_org.client("staff"), body)
    assert status == 201, answer
    assert Task.objects.count() == 1


def test_threads_race_one_key_after_its_owner_died(committed_org):
    """Several retries of a dead owner's claim at once: exactly one takes it over."""
    tea = catalog_make().tea
    body = {"items": [{"agent_id": tea.id, "quantity": 1}]}
    IdempotencyKey.objects.create(
        key=KEY, user=committed_org.users["staff"], request_hash=request_fingerprint(body)
    )
    clients = [committed_org.client("staff") for _ in range(6)]
    for client in clients:
        client.get("/health/")
    barrier = threading.Barrier(len(clients))

    def go(client):
        barrier.wait(timeout=30)
        return _post(client, body)

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        results = list(pool.map(go, clients))
    statuses = sorted(status for status, _answer, _replayed in results)
    assert set(statuses) <= {201, 409}, results
    assert len({answer["id"] for status, answer, _ in results if status == 201}) == 1
    assert Task.objects.count() == 1


def test_lock_ids_are_per_schema_user_and_key(acme, globex):
    """Advisory locks are per database and user ids repeat across tenant schemas: the lock of
    one organization's key never blocks another's (this test also makes a run of this file
    alone set up the test database: pytest-django does so for ``db`` users only)."""
    mine = _lock_id(user_id=1, key=KEY)
    assert mine == _lock_id(user_id=1, key=KEY)
    assert mine != _lock_id(user_id=2, key=KEY)
    assert mine != _lock_id(user_id=1, key=KEY + "x")
    with globex.active():
        assert mine != _lock_id(user_id=1, key=KEY)
