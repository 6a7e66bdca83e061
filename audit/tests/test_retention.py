"""Retention: rows older than the organization's ``audit_retention_days`` go, in batches; the
beat job reaches every organization through a real Celery worker."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_tenants.utils import tenant_context

from audit.choices import ActorType, AuditAction
from audit.models import AuditEvent
from audit.services import audit_prune
from audit.tasks import audit_prune_dispatch


def _rows(days_ago: list[int], label: str) -> None:
    now = timezone.now()
    # bulk_create inserts (the trail is append-only, not insert-only): ages set directly.
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=now - timedelta(days=days),
            actor_type=ActorType.SYSTEM,
            action=AuditAction.SETTINGS_UPDATE,
            target_type="organization",
            target_label=label,
        )
        for days in days_ago
    )


def test_prune_deletes_only_old_rows_in_batches(acme):
    _rows([40] * 7, "old")
    _rows([1, 29], "recent")
    with CaptureQueriesContext(connection) as queries:
        deleted = audit_prune(retention_days=30, batch_size=3)
    assert deleted == 7
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("DELETE")]
    assert len(deletes) == 3  # 3 + 3 + 1
    assert all("LIMIT 3" in sql for sql in deletes)
    assert not AuditEvent.objects.filter(target_label="old").exists()
    assert AuditEvent.objects.filter(target_label="recent").count() == 2


def test_prune_uses_the_organizations_retention_setting(acme):
    assert acme.organization.audit_retention_days == 365
    _rows([400], "past a year")
    _rows([300], "within the year")
    audit_prune()
    assert not AuditEvent.objects.filter(target_label="past a year").exists()
    assert AuditEvent.objects.filter(target_label="within the year").exists()


def test_the_beat_schedule_is_registered(db):
    task = PeriodicTask.objects.get(task="audit.prune_dispatch")
    assert task.enabled


@pytest.mark.slow
@pytest.mark.usefixtures("celery_worker_process")
def test_the_beat_job_prunes_every_organization_through_a_worker(committed_org):
    organization = committed_org.organization
    organization.audit_retention_days = 10
    organization.save(update_fields=["audit_retention_days"])
    with tenant_context(organization):
        _rows([11, 12], "old")
        _rows([9], "kept")
    connection.set_schema_to_public()
    sent = audit_prune_dispatch()
    assert sent >= 1
    deadline = time.monotonic() + 60
    with tenant_context(organization):
        while AuditEvent.objects.filter(target_label="old").exists():
            assert time.monotonic() < deadline, "the worker did not prune"
            time.sleep(0.2)
        assert AuditEvent.objects.filter(target_label="kept").count() == 1
