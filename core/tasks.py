"""Platform-level Celery tasks."""

from celery import shared_task
from django.apps import apps
from django.db import connection


@shared_task(name="core.schema_probe")
def schema_probe(model: str | None = None) -> dict:
    """Report the schema a job runs in and what it sees there: the ``name`` of every row of
    ``model`` (an ``"app_label.Model"`` label, looked up at run time: core imports no domain
    app). Used by the test of the tenant-aware Celery wiring against a real worker."""
    names = []
    if model and connection.schema_name != "public":
        queryset = apps.get_model(model).objects.order_by("name")
        names = list(queryset.values_list("name", flat=True))
    return {"schema": connection.schema_name, "rows": names}
