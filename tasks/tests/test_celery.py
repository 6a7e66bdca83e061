"""Expiry through a real Celery worker: the dispatcher fans out one job per organization, each
running inside its tenant's schema, and screens hear about it (published after commit)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import TaskEvent
from tasks.models import IdempotencyKey, Task
from tasks.services import task_create
from tasks.tasks import expire_pending_dispatch
from testing.factories import catalog_make
from testing.orgs import public_schema

from .conftest import ledger_ok


@pytest.mark.slow
def test_beat_dispatcher_expires_stale_tasks_on_a_real_worker(committed_org, celery_worker_process):
    catalog = catalog_make()
    user = committed_org.users["staff"]
    now = timezone.now()
    items = [{"agent_id": catalog.duck.id, "quantity": 4, "notes": ""}]
    stale = task_create(user=user, items=items, now=now - timedelta(minutes=45))
    fresh = task_create(user=user, items=items, now=now - timedelta(minutes=5))
    IdempotencyKey.objects.create(
        key="old", user=user, request_hash="x", created_at=now - timedelta(hours=30)
    )
    with public_schema():  # beat sends the dispatcher from the public schema
        result = expire_pending_dispatch.delay()
        assert result.get(timeout=30) >= 1  # one job per active organization

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if Task.objects.get(pk=stale.pk).status == "expired":
            break
        time.sleep(0.2)
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == "expired" and stale.expired_at is not None
    assert fresh.status == "pending"
    assert ledger_ok(catalog.duck) and catalog.duck.stock == 6
    event = TaskEvent.objects.filter(task=stale).latest("seq")
    assert event.type == "task.status_changed" and event.payload["status"] == "expired"
    deadline = time.monotonic() + 10
    while IdempotencyKey.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not IdempotencyKey.objects.exists()
