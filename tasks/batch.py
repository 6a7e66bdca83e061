"""Batch create: up to 50 tasks in one call, each validated and created on its own.

Each task is created in its own transaction (``task_create`` is one statement), so one refused
task (bad input, stock, unknown agent) does not block the others, and no lock (agents, the
day's sequence, the event counter) is held from one task to the next: a batch never makes the
organization's other orders wait for all of it.

The answer lists every task's result in order: ``{"status": 201, "task": {...}}`` or
``{"status": 4xx, "error": {"code", "message", "details"}}``. HTTP 200 when every task was
created, 207 (Multi-Status) when at least one was not (docs/tasks.md).

``Idempotency-Key`` covers the whole batch, with the rules of create (``tasks.idempotency``):
the key's owner is the session holding its advisory lock (``key_owner_lock``), the claim row is
inserted before any work; the same key and body replay the stored answer, another body is 422,
a batch still running is 409. Because the tasks commit one by one, the results so far are
stored with each task, in the task's transaction: a batch whose process died half way (its
session, and so its lock, gone) is resumed from there by the next retry, never created twice.
"""

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from core.exceptions import ApplicationError, error_body

from .errors import IdempotencyInProgress, IdempotencyKeyReused
from .idempotency import CLAIM_SQL, IdempotentResponse, key_owner_lock
from .models import IdempotencyKey
from .serializers import TaskCreateInputSerializer, task_create_input_fast
from .services import task_create, task_serialize


def _one(*, user, entry) -> dict:
    """Validate and create one task of a batch; its result entry (never raises for the task's
    own errors: they are that entry's result)."""
    validated = task_create_input_fast(entry)
    if validated is None:
        serializer = TaskCreateInputSerializer(data=entry)
        if not serializer.is_valid():
            errors = serializer.errors
            details = (
                {"fields": errors} if isinstance(errors, dict) else {"non_field_errors": errors}
            )
            return {
                "status": 400,
                "error": error_body("VALIDATION_ERROR", _("Some fields are invalid."), details)[
                    "error"
                ],
            }
        validated = serializer.validated_data
    try:
        # A savepoint: inside the idempotent path the entry shares a transaction with its
        # progress record, and a refused create must leave that transaction usable.
        with transaction.atomic():
            task = task_create(user=user, **validated)
    except (ApplicationError, ValidationError) as exc:
        if isinstance(exc, ValidationError):
            exc = ApplicationError(code="VALIDATION_ERROR", details={"fields": exc.detail})
        return {
            "status": exc.status_code,
            "error": error_body(exc.code, exc.message, exc.details)["error"],
        }
    return {"status": 201, "task": task_serialize(task)}


def _answer(results: list[dict]) -> IdempotentResponse:
    created = sum(1 for result in results if result["status"] == 201)
    body = {"results": results, "created": created, "failed": len(results) - created}
    return IdempotentResponse(200 if created == len(results) else 207, body)


def task_create_batch(*, user, entries: list) -> IdempotentResponse:
    """Create every entry on its own; the list of results (no Idempotency-Key)."""
    return _answer([_one(user=user, entry=entry) for entry in entries])


def _expired(record: IdempotencyKey, now) -> bool:
    return record.created_at < now - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)


def _claim_or_answer(*, user, key: str, fingerprint: str) -> tuple[int, list] | IdempotentResponse:
    """With the key's lock held: the claim's id and the results already stored (a resumed
    batch), or the stored answer to replay."""
    for _attempt in range(2):
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(CLAIM_SQL, [key, user.pk, fingerprint, now])
            row = cursor.fetchone()
        if row is not None:
            return row[0], []
        record = IdempotencyKey.objects.filter(user_id=user.pk, key=key).first()
        if record is None:
            continue  # purged in between: claim again
        if _expired(record, now):
            IdempotencyKey.objects.filter(pk=record.pk).update(
                request_hash=fingerprint,
                created_at=now,
                response_status=None,
                response_body=None,
                task=None,
            )
            return record.pk, []
        if record.request_hash != fingerprint:
            raise IdempotencyKeyReused(details={"key": key})
        if record.response_status is not None:
            return IdempotentResponse(record.response_status, record.response_body, replayed=True)
        # No answer while we hold the lock: its request is gone. Resume where it stopped.
        IdempotencyKey.objects.filter(pk=record.pk).update(created_at=now)
        return record.pk, list((record.response_body or {}).get("results", []))
    raise IdempotencyInProgress(details={"key": key})  # pragma: no cover - purge races


def task_create_batch_idempotent(
    *, user, key: str, fingerprint: str, entries: list, on_entry: Callable | None = None
) -> IdempotentResponse:
    """``task_create_batch`` under an ``Idempotency-Key`` (module docstring)."""
    with key_owner_lock(user_id=user.pk, key=key) as owned:
        if not owned:
            record = IdempotencyKey.objects.filter(user_id=user.pk, key=key).first()
            other_body = record is not None and record.request_hash != fingerprint
            if other_body and not _expired(record, timezone.now()):
                raise IdempotencyKeyReused(details={"key": key})
            raise IdempotencyInProgress(details={"key": key})
        claimed = _claim_or_answer(user=user, key=key, fingerprint=fingerprint)
        if isinstance(claimed, IdempotentResponse):
            return claimed
        return _run(
            user=user, record_id=claimed[0], results=claimed[1], entries=entries, on_entry=on_entry
        )


def _run(*, user, record_id: int, results: list, entries: list, on_entry) -> IdempotentResponse:
    try:
        for entry in entries[len(results) :]:
            with transaction.atomic():
                results.append(_one(user=user, entry=entry))
                IdempotencyKey.objects.filter(pk=record_id).update(
                    response_body={"results": results}
                )
            if on_entry is not None:
                on_entry(len(results))
        answer = _answer(results)
        IdempotencyKey.objects.filter(pk=record_id).update(
            response_status=answer.status, response_body=answer.body
        )
    except BaseException:
        if not results:
            IdempotencyKey.objects.filter(pk=record_id).delete()
        raise
    return answer
