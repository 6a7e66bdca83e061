"""``Idempotency-Key`` on task create.

The key is *claimed* first: one row inserted with ``ON CONFLICT DO NOTHING`` in its own short
(autocommit) transaction, before any work. Exactly one of any number of concurrent identical
requests wins the claim; the others find the row and answer 409 ``IDEMPOTENCY_IN_PROGRESS``
(still running), 422 ``IDEMPOTENCY_KEY_REUSED`` (different body) or replay the stored answer.
The winner stores its answer in the *same* transaction as the task, so a stored answer always
matches a committed task. If the work fails (validation, stock), the claim is deleted: the client
may retry the same key once the cause is fixed. A claim whose request died without answering
(process killed) is taken over after ``IDEMPOTENCY_STALE_SECONDS``. Keys live 24 hours: older
rows are ignored (and replaced), and purged by the expiry job.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .constants import IDEMPOTENCY_STALE_SECONDS
from .errors import IdempotencyInProgress, IdempotencyKeyReused
from .models import IdempotencyKey, Task

_CLAIM_SQL = """
INSERT INTO tasks_idempotencykey (key, user_id, request_hash, created_at)
VALUES (%s, %s, %s, %s)
ON CONFLICT (user_id, key) DO NOTHING
RETURNING id
"""


@dataclass(frozen=True)
class IdempotentResponse:
    status: int
    body: dict
    replayed: bool


def request_fingerprint(data) -> str:
    """A stable hash of a parsed request body (key order does not matter)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _claim(*, user_id: int, key: str, fingerprint: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [key, user_id, fingerprint, timezone.now()])
        row = cursor.fetchone()
    return row[0] if row else None


def _existing_answer(*, user_id: int, key: str, fingerprint: str) -> IdempotentResponse | None:
    """The stored answer for a key someone else claimed; ``None`` if the claim was dropped."""
    now = timezone.now()
    record = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
    if record is None:
        return None
    expired = record.created_at < now - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
    abandoned = record.response_status is None and record.created_at < now - timedelta(
        seconds=IDEMPOTENCY_STALE_SECONDS
    )
    if expired or abandoned:
        # Conditional on the row we saw: two requests taking over at once delete it only once.
        IdempotencyKey.objects.filter(pk=record.pk, created_at=record.created_at).delete()
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(details={"key": key})
    if record.response_status is None:
        raise IdempotencyInProgress(details={"key": key})
    return IdempotentResponse(record.response_status, record.response_body, replayed=True)


def idempotent_call(
    *,
    user,
    key: str,
    fingerprint: str,
    work: Callable[[], tuple[int, dict, Task | None]],
) -> IdempotentResponse:
    """Run ``work`` at most once per (user, key) within 24 hours and replay its answer."""
    for _attempt in range(3):
        record_id = _claim(user_id=user.pk, key=key, fingerprint=fingerprint)
        if record_id is not None:
            break
        answer = _existing_answer(user_id=user.pk, key=key, fingerprint=fingerprint)
        if answer is not None:
            return answer
    else:  # pragma: no cover - only under a storm of takeovers of one stale key
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
