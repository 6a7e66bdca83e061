from celery import shared_task

from .schema_pool import schema_pool_fill


@shared_task(name="organizations.schema_pool_refill", time_limit=600, soft_time_limit=540)
def schema_pool_refill() -> int:
    """Top the warm pool of tenant schemas up (runs in the public schema)."""
    return schema_pool_fill()


@shared_task(name="organizations.purge_due", time_limit=3600, soft_time_limit=3500)
def purge_due() -> int:
    """Beat: purge every organization whose deletion grace has passed (``purge_organizations``)."""
    from django.core.management import call_command

    from .selectors import organization_list_purge_due

    due = organization_list_purge_due().count()
    if due:
        call_command("purge_organizations", verbosity=1)
    return due
