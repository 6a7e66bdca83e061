"""Celery jobs of the task flow: take ids, call a service."""

import logging

from celery import shared_task
from django_tenants.utils import tenant_context

from organizations.selectors import organization_list_active

from .services import idempotency_keys_purge, task_expire_stale

logger = logging.getLogger(__name__)


@shared_task(name="tasks.expire_pending_dispatch")
def expire_pending_dispatch() -> int:
    """Beat, every minute, public schema: one expiry job per active organization."""
    sent = 0
    for organization in organization_list_active():
        # Sent inside the tenant: the job carries the schema and runs there on the worker.
        with tenant_context(organization):
            expire_pending.delay()
        sent += 1
    return sent


@shared_task(name="tasks.expire_pending")
def expire_pending() -> dict:
    """Expire the organization's stale pending tasks; purge its old Idempotency-Keys."""
    expired = task_expire_stale()
    purged = idempotency_keys_purge()
    if expired:
        logger.info("expired pending tasks", extra={"expired": expired})
    return {"expired": expired, "purged_idempotency_keys": purged}
