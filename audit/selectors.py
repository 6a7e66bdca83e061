from django.db.models import QuerySet

from organizations.models import Organization

from .models import AuditEvent


def audit_event_list() -> QuerySet[AuditEvent]:
    """The current organization's trail, newest first (id breaks ties of one instant)."""
    return AuditEvent.objects.order_by("-at", "-id")


def audit_event_get(*, event_id) -> AuditEvent | None:
    return AuditEvent.objects.filter(pk=event_id).first()


def organizations_for_retention() -> QuerySet[Organization]:
    """Every organization with a schema, suspended ones too: their trail ages all the same."""
    return Organization.objects.exclude(schema_name="public").order_by("pk")
