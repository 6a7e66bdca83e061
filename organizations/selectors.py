from django.db.models import QuerySet

from .models import Organization


def organization_list_active() -> QuerySet[Organization]:
    """Every active organization, the public pseudo-tenant excluded."""
    return Organization.objects.exclude(schema_name="public").filter(is_active=True)


def organization_primary_host(organization: Organization) -> str | None:
    domain = organization.domains.filter(is_primary=True).first()
    return domain.domain if domain else None
