"""Celery entry points of the exports app: take ids, call a service."""

import logging

from celery import shared_task
from django.conf import settings
from django_tenants.utils import tenant_context

from organizations.models import Organization

from .services import export_expire, export_run

logger = logging.getLogger(__name__)


@shared_task(
    name="exports.export_organization",
    # Acks late (settings): a worker killed mid-export gets the message redelivered and the
    # job rebuilds its archive from scratch (exports.services: claim by attempt).
    acks_late=True,
    time_limit=settings.EXPORT_TIME_LIMIT_SECONDS,
    soft_time_limit=settings.EXPORT_TIME_LIMIT_SECONDS - 60,
    ignore_result=True,
)
def export_organization(job_id: int) -> None:
    """Runs in the tenant schema carried by the message headers."""
    job = export_run(job_id=int(job_id))
    if job is not None:
        logger.info(
            "export finished",
            extra={"job_id": job.pk, "rows": job.rows_written, "bytes": job.size_bytes},
        )


@shared_task(name="exports.expire")
def exports_expire() -> int:
    """Beat, hourly, public schema: delete the archives whose 24 h link has passed, in every
    organization (one short query each; an organization that fails is logged and skipped)."""
    expired = 0
    organizations = Organization.objects.exclude(schema_name="public").order_by("pk")
    for organization in organizations.iterator():
        try:
            with tenant_context(organization):
                expired += export_expire()
        except Exception:
            logger.exception("export expiry failed", extra={"schema": organization.schema_name})
    return expired
