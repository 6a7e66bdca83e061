"""Celery jobs of the audit trail: retention, one job per organization."""

from celery import shared_task
from django_tenants.utils import tenant_context

from .selectors import organizations_for_retention
from .services import audit_prune


@shared_task(name="audit.prune_dispatch")
def audit_prune_dispatch() -> int:
    """Beat entry point (public schema): one pruning job per organization, sent inside
    ``tenant_context`` so tenant-schemas-celery runs it in that schema."""
    sent = 0
    for organization in organizations_for_retention().iterator():
        with tenant_context(organization):
            audit_prune_job.delay()
        sent += 1
    return sent


@shared_task(name="audit.prune")
def audit_prune_job() -> int:
    """Prune the trail of the organization the job runs in (older than its retention)."""
    return audit_prune()
