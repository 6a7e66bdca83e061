"""Retention of task events (DESIGN 12): events older than ``event_retention_days`` go, in
batches, oldest first; younger ones and the newest event always stay; the beat's dispatcher
runs one pruning job per organization on a real worker, each in its own schema."""

import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from events.models import TaskEvent
from events.retention import event_prune, event_pruned_through
from events.tasks import event_prune_dispatch
from organizations.models import Organization
from testing.factories import agent_make, category_make, task_make
from testing.orgs import make_org


def _events(org, count: int) -> list[int]:
    """``count`` task.created events through the real service; their seqs."""
    category = category_make(name=f"Hot {uuid.uuid4().hex[:6]}")
    soup = agent_make(name="Soup", category=category, price=Decimal("9.00"))
    for _ in range(count):
        task_make(user=org.users["staff"], agents=[soup])
    return list(TaskEvent.objects.order_by("seq").values_list("seq", flat=True))


def _age(seqs, days: int) -> None:
    TaskEvent.objects.filter(seq__in=seqs).update(at=timezone.now() - timedelta(days=days))


def test_prunes_old_events_only_in_batches(acme):
    seqs = _events(acme, 7)
    assert len(seqs) == 7 and event_pruned_through() == seqs[0] - 1
    _age(seqs[:5], days=31)
    _age(seqs[5:6], days=29)  # inside the 30 days: kept

    deleted = event_prune(retention_days=30, batch_size=2)  # three batches: 2 + 2 + 1

    assert deleted == 5
    assert list(TaskEvent.objects.values_list("seq", flat=True)) == seqs[5:]
    assert event_pruned_through() == seqs[4]
    # Nothing more is old: a second run deletes nothing.
    assert event_prune(retention_days=30) == 0


def test_the_organizations_own_retention_applies(acme):
    seqs = _events(acme, 4)
    _age(seqs[:2], days=10)
    type(acme.organization).objects.filter(pk=acme.organization.pk).update(event_retention_days=7)
    before = connection.tenant.event_retention_days
    connection.tenant.event_retention_days = 7
    try:
        assert event_prune() == 2
    finally:
        connection.tenant.event_retention_days = before
    assert list(TaskEvent.objects.values_list("seq", flat=True)) == seqs[2:]


def test_the_log_stays_a_suffix_and_the_newest_event_stays(acme):
    seqs = _events(acme, 4)
    # An old event behind a young one (clocks, a long transaction): the log is pruned as a
    # prefix in seq order, so it is kept rather than leaving a hole before a younger event.
    _age([seqs[0], seqs[2]], days=40)
    assert event_prune(retention_days=30) == 1
    assert list(TaskEvent.objects.values_list("seq", flat=True)) == seqs[1:]

    # Everything old: all but the newest go (the last seq stays known to screens).
    _age(seqs, days=40)
    assert event_prune(retention_days=30) == 2
    assert list(TaskEvent.objects.values_list("seq", flat=True)) == [seqs[-1]]
    assert event_pruned_through() == seqs[-1] - 1


def test_an_empty_log_is_left_alone(acme):
    TaskEvent.objects.all().delete()
    assert event_prune(retention_days=1) == 0
    assert event_pruned_through() == 0


@pytest.mark.slow
def test_the_beat_dispatch_prunes_every_organization_in_its_schema(live_db, celery_worker_process):
    orgs = [make_org(f"ret{i}-{uuid.uuid4().hex[:6]}") for i in range(2)]
    try:
        kept = {}
        for org in orgs:
            with org.active():
                seqs = _events(org, 3)
                _age(seqs[:2], days=45)
                kept[org.schema] = seqs[2:]
        connection.set_schema_to_public()

        assert event_prune_dispatch.apply_async().get(timeout=60) >= 2

        deadline = time.monotonic() + 60
        for org in orgs:
            with org.active():
                while list(TaskEvent.objects.values_list("seq", flat=True)) != kept[org.schema]:
                    assert time.monotonic() < deadline, "the pruning jobs did not run"
                    time.sleep(0.2)
    finally:
        connection.set_schema_to_public()
        for org in orgs:
            Organization.objects.get(pk=org.organization.pk).delete(force_drop=True)
