from django.db.models import QuerySet
from django_tenants.utils import get_tenant_model

from .models import AuditEvent


def audit_event_list() -> QuerySet[AuditEvent]:
    """The current organization's trail, newest first (id breaks ties of one instant)."""
    return AuditEvent.objects.order_by("-at", "-id")


def audit_event_get(*, event_id) -> AuditEvent | None:
    return AuditEvent.objects.filter(pk=event_id).first()


def organizations_for_retention() -> QuerySet:
    """Every organization with a schema, suspended ones too: their trail ages all the same.

    The tenant model is named by the TENANT_MODEL setting, not imported: the audit trail sits
    below the apps it records (organizations among them; scripts/check_imports.py)."""
    return get_tenant_model().objects.exclude(schema_name="public").order_by("pk")
