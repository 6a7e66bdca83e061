"""The warm pool of ready tenant schemas.

``schema_pool_fill`` builds ``pool_<hex>`` schemas ahead of time from the recorded script
(``schema_script``: a few hundred milliseconds each); ``schema_pool_claim`` renames one to a
new organization's schema name in a few milliseconds. A pooled schema whose migrations differ
from the template's is dropped by ``schema_pool_fill`` (run by ``platform_setup`` and after
every claim, on a worker), so a claimed schema is always current.
"""

import logging
import uuid

from django.conf import settings
from django.db import connection, transaction
from django_tenants.utils import schema_exists

from .models import PooledSchema
from .schema_script import quote_name, schema_create_from_script, schema_script_current

logger = logging.getLogger(__name__)


def schema_pool_claim(*, schema_name: str) -> bool:
    """Rename a pooled schema to ``schema_name``. False when the pool is empty."""
    with transaction.atomic():
        entry = PooledSchema.objects.select_for_update(skip_locked=True).first()
        if entry is None:
            if settings.TENANT_SCHEMA_POOL_SIZE > 0:
                logger.warning("schema pool empty: cloning while the customer waits")
            return False
        with connection.cursor() as cursor:
            cursor.execute(
                f"ALTER SCHEMA {quote_name(entry.schema_name)} RENAME TO {quote_name(schema_name)}"
            )
        entry.delete()
    return True


def _migrations(schema: str) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT app, name FROM {quote_name(schema)}.django_migrations")  # noqa: S608
        return set(cursor.fetchall())


def schema_pool_fill(*, size: int | None = None) -> int:
    """Drop stale pooled schemas and build new ones up to ``size``; returns how many were made."""
    size = settings.TENANT_SCHEMA_POOL_SIZE if size is None else size
    template = settings.TENANT_BASE_SCHEMA
    connection.set_schema_to_public()
    current = _migrations(template)
    for entry in PooledSchema.objects.all():
        if not schema_exists(entry.schema_name) or _migrations(entry.schema_name) != current:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP SCHEMA IF EXISTS {quote_name(entry.schema_name)} CASCADE")
            entry.delete()
    made = 0
    while PooledSchema.objects.count() < size:
        name = f"pool_{uuid.uuid4().hex[:12]}"
        with transaction.atomic():
            schema_create_from_script(schema_name=name, sql=schema_script_current())
            PooledSchema.objects.create(schema_name=name)
        made += 1
    connection.set_schema_to_public()
    return made


def schema_pool_refill_soon() -> None:
    """Ask a worker to top the pool up once the current transaction commits."""
    if settings.TENANT_SCHEMA_POOL_SIZE <= 0:
        return
    from core.jobs import JobQueueUnavailable, job_send

    from .tasks import schema_pool_refill

    def refill() -> None:
        # Runs in the request that created an organization, which has succeeded: a broker that
        # cannot be reached costs a log line here (quickly), not a 500 after 19 s. The pool is
        # a buffer; the next organization created asks again.
        try:
            job_send(schema_pool_refill)
        except JobQueueUnavailable:
            logger.warning("schema pool refill not queued: the broker cannot be reached")

    transaction.on_commit(refill)
