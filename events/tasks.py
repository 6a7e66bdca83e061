"""Celery jobs of the event log: retention, one job per organization."""

from celery import shared_task
from django_tenants.utils import tenant_context

from organizations.models import Organization

from .retention import event_prune


@shared_task(name="events.prune_dispatch")
def event_prune_dispatch() -> int:
    """Beat entry point (public schema): one pruning job per organization (suspended ones too:
    their events age all the same), sent inside ``tenant_context`` so that
    tenant-schemas-celery runs it in that schema."""
    sent = 0
    organizations = Organization.objects.exclude(schema_name="public").order_by("pk")
    for organization in organizations.iterator():
        with tenant_context(organization):
            event_prune_job.delay()
        sent += 1
    return sent


@shared_task(name="events.prune", time_limit=1800, soft_time_limit=1740)
def event_prune_job() -> int:
    """Prune the event log of the organization the job runs in."""
    return event_prune()
