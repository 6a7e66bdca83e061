"""``Idempotency-Key`` on task create.

Ownership of a key is a PostgreSQL **session advisory lock** on (schema, user, key), taken with
``pg_try_advisory_lock`` before anything else and held until the request has stored its answer
(or dropped its claim). PostgreSQL releases it when the owner's session ends, so:

- lock not available -> another request owns the key right now: 409 ``IDEMPOTENCY_IN_PROGRESS``
  (422 ``IDEMPOTENCY_KEY_REUSED`` if the stored claim is for another body), however long that
  request takes: a retry 60 s into a slow create never takes it over;
- lock taken -> nobody else is working on the key. The claim row is then inserted with
  ``ON CONFLICT DO NOTHING``; an existing row either holds an answer (replayed; 422 for
  another body) or none, which now *proves* its request is gone (process killed, connection
  dropped): it is taken over at once, not after a guessed timeout.

The winner stores its answer in the *same* transaction as the task, so a stored answer always
matches a committed task. If the work fails (validation, stock), the claim is deleted: the client
may retry the same key once the cause is fixed. Keys live 24 hours: older rows are replaced, and
purged by the expiry job. Session locks need a session: PostgreSQL reached directly or through a
session-pooling proxy (core.db_backend refuses transaction pooling).
"""

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .errors import IdempotencyInProgress, IdempotencyKeyReused
from .models import IdempotencyKey, Task

logger = logging.getLogger(__name__)

CLAIM_SQL = """
INSERT INTO tasks_idempotencykey (key, user_id, request_hash, created_at)
VALUES (%s, %s, %s, %s)
ON CONFLICT (user_id, key) DO NOTHING
RETURNING id
"""


@dataclass(frozen=True)
class IdempotentResponse:
    status: int
    body: dict
    replayed: bool = False


def request_fingerprint(data) -> str:
    """A stable hash of a parsed request body (key order does not matter)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lock_id(*, user_id: int, key: str) -> int:
    """A signed 64-bit advisory lock id for (schema, user, key): advisory locks are per
    database, and user ids repeat across tenant schemas."""
    name = f"cc-idempotency:{connection.schema_name}:{user_id}:{key}".encode()
    return int.from_bytes(hashlib.sha256(name).digest()[:8], "big", signed=True)


@contextmanager
def key_owner_lock(*, user_id: int, key: str) -> Iterator[bool]:
    """Yields True while this session owns (user, key), False if another live session does.

    For every path that claims an ``Idempotency-Key`` row (create, batch): a claim row without
    an answer may be taken over only by a caller that got True here.
    """
    lock = _lock_id(user_id=user_id, key=key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock])
        owned = cursor.fetchone()[0]
    try:
        yield owned
    finally:
        if owned:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [lock])
            except Exception:
                # The session is broken or gone, and its locks with it.
                logger.warning("could not release an idempotency lock", exc_info=True)


def _claim(*, user_id: int, key: str, fingerprint: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, [key, user_id, fingerprint, timezone.now()])
        row = cursor.fetchone()
    return row[0] if row else None


def _in_flight(*, user_id: int, key: str, fingerprint: str):
    """Another live request owns the key: 422 if its claim is for another body, else 409."""
    record = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
    if record is not None and record.request_hash != fingerprint and not _expired(record):
        raise IdempotencyKeyReused(details={"key": key})
    raise IdempotencyInProgress(details={"key": key})


def _expired(record: IdempotencyKey) -> bool:
    ttl = timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
    return record.created_at < timezone.now() - ttl


def _answer_or_take_over(
    *, user_id: int, key: str, fingerprint: str
) -> tuple[IdempotentResponse | None, int | None]:
    """With the key's lock held: the stored answer to replay, or the id of the claim row this
    request now owns (``(None, None)``: the row vanished, claim again)."""
    record = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
    if record is None:
        return None, None
    if _expired(record):
        # Past its 24 hours: the key is free again, for any body.
        IdempotencyKey.objects.filter(pk=record.pk).update(
            request_hash=fingerprint,
            created_at=timezone.now(),
            response_status=None,
            response_body=None,
            task=None,
        )
        return None, record.pk
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(details={"key": key})
    if record.response_status is not None:
        return IdempotentResponse(record.response_status, record.response_body, True), None
    # A claim without an answer while we hold its lock: its request is provably gone.
    IdempotencyKey.objects.filter(pk=record.pk).update(created_at=timezone.now())
    return None, record.pk


def idempotent_call(
    *,
    user,
    key: str,
    fingerprint: str,
    work: Callable[[], tuple[int, dict, Task | None]],
) -> IdempotentResponse:
    """Run ``work`` at most once per (user, key) within 24 hours and replay its answer."""
    with key_owner_lock(user_id=user.pk, key=key) as owned:
        if not owned:
            _in_flight(user_id=user.pk, key=key, fingerprint=fingerprint)
        record_id = None
        for _attempt in range(2):
            record_id = _claim(user_id=user.pk, key=key, fingerprint=fingerprint)
            if record_id is not None:
                break
            answer, record_id = _answer_or_take_over(
                user_id=user.pk, key=key, fingerprint=fingerprint
            )
            if answer is not None:
                return answer
            if record_id is not None:
                break
        if record_id is None:  # pragma: no cover - a purge racing the claim twice
            raise IdempotencyInProgress(details={"key": key})

        try:
            with transaction.atomic():
                status, body, task = work()
                IdempotencyKey.objects.filter(pk=record_id).update(
                    response_status=status, response_body=body, task=task
                )
        except BaseException:
            IdempotencyKey.objects.filter(pk=record_id).delete()
            raise
        return IdempotentResponse(status, body, replayed=False)
