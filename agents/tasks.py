"""Celery jobs of the catalog: the hourly stock reconciliation."""

from celery import shared_task
from django_tenants.utils import tenant_context

from organizations.selectors import organization_list_active

from .services import stock_reconcile


@shared_task(name="agents.reconcile_stock_dispatch")
def reconcile_stock_dispatch() -> int:
    """Beat entry point (public schema): one reconciliation job per active organization.

    Sent inside ``tenant_context`` so tenant-schemas-celery stamps the job with the schema and
    the worker runs it there.
    """
    sent = 0
    for organization in organization_list_active().iterator():
        with tenant_context(organization):
            reconcile_stock.delay()
        sent += 1
    return sent


@shared_task(name="agents.reconcile_stock")
def reconcile_stock() -> dict:
    """Verify the ledger identity of the organization the job runs in (from its headers)."""
    result = stock_reconcile()
    return {"id": result.pk, "agents_checked": result.agents_checked, "drift": len(result.drift)}
