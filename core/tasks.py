"""Platform-level Celery tasks."""

from celery import shared_task
from django.db import connection


@shared_task(name="core.schema_probe")
def schema_probe() -> dict:
    """Report the schema a job runs in and what it sees there (used by the readiness of the
    tenant-aware Celery wiring, and by its test against a real worker)."""
    from agents.models import AgentCategory

    names = []
    if connection.schema_name != "public":
        names = list(AgentCategory.objects.order_by("name").values_list("name", flat=True))
    return {"schema": connection.schema_name, "categories": names}
