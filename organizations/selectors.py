from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from .models import Organization


def organization_list_active() -> QuerySet[Organization]:
    """Every active organization (not suspended, no deletion scheduled), the public
    pseudo-tenant excluded: the ones the periodic jobs work for."""
    return Organization.objects.exclude(schema_name="public").filter(
        is_active=True, deletion_scheduled_at__isnull=True
    )


def organization_primary_host(organization: Organization) -> str | None:
    domain = organization.domains.filter(is_primary=True).first()
    return domain.domain if domain else None


def organization_list_purge_due(*, now: datetime | None = None) -> QuerySet[Organization]:
    """Organizations whose scheduled deletion is past its grace period, oldest first."""
    return Organization.objects.filter(deletion_due_at__lte=now or timezone.now()).order_by(
        "deletion_due_at", "pk"
    )
