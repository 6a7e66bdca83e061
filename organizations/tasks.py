from celery import shared_task

from .schema_pool import schema_pool_fill


@shared_task(name="organizations.schema_pool_refill", time_limit=600, soft_time_limit=540)
def schema_pool_refill() -> int:
    """Top the warm pool of tenant schemas up (runs in the public schema)."""
    return schema_pool_fill()
