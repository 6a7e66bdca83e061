"""The warm pool: provisioning renames a pre-cloned schema; stale pooled schemas are replaced."""

from django.db import connection
from django_tenants.utils import schema_exists, tenant_context

from agents.models import AgentCategory
from organizations.models import Organization, PooledSchema
from organizations.schema_pool import schema_pool_fill
from organizations.services import organization_create
from testing.factories import category_make


def _drop_pool():
    for entry in PooledSchema.objects.all():
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{entry.schema_name}" CASCADE')
        entry.delete()


def test_provisioning_takes_a_pooled_schema(live_db, settings):
    settings.TENANT_SCHEMA_POOL_SIZE = 2
    try:
        assert schema_pool_fill() == 2
        pooled = list(PooledSchema.objects.values_list("schema_name", flat=True))
        org = organization_create(
            name="Pooled",
            slug="pooled",
            domain="pooled.localhost",
        )
        remaining = list(PooledSchema.objects.values_list("schema_name", flat=True))
        assert len(remaining) == 1
        taken = (set(pooled) - set(remaining)).pop()
        assert not schema_exists(taken)
        assert schema_exists("pooled")
        with tenant_context(org):
            category_make(name="works")
            assert AgentCategory.objects.count() == 1
        assert schema_pool_fill() == 1
    finally:
        connection.set_schema_to_public()
        Organization.objects.filter(slug="pooled").first().delete(force_drop=True)
        _drop_pool()


def test_stale_pooled_schema_is_replaced(live_db, settings):
    settings.TENANT_SCHEMA_POOL_SIZE = 1
    try:
        schema_pool_fill()
        stale = PooledSchema.objects.get().schema_name
        with connection.cursor() as cursor:
            cursor.execute(
                f'INSERT INTO "{stale}".django_migrations (app, name, applied) '
                "VALUES ('agents', '9999_future', now())"
            )
        assert schema_pool_fill() == 1
        assert not schema_exists(stale)
        assert PooledSchema.objects.get().schema_name != stale
    finally:
        _drop_pool()


def test_empty_pool_falls_back_to_cloning(live_db, settings):
    settings.TENANT_SCHEMA_POOL_SIZE = 0
    _drop_pool()
    org = organization_create(
        name="Cloned", slug="cloned", domain="cloned.localhost", owner_email="o@cloned.test"
    )
    try:
        with tenant_context(org):
            assert AgentCategory.objects.count() == 0
    finally:
        connection.set_schema_to_public()
        org.delete(force_drop=True)
