"""Building many organizations fast for the benchmarks.

``clone_schema`` slows down as the catalog grows (seconds per schema past a few hundred), so
fleets of 1,000 are built with ``CREATE TABLE .. (LIKE tenant_template.x INCLUDING ALL)``: the
same tables, columns, defaults, indexes and checks (foreign keys omitted), plus the template's
``django_migrations`` rows, so django-tenants treats them as fully migrated tenants.
"""

from django.db import connection, transaction


def template_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'tenant_template' AND table_type = 'BASE TABLE'"
        )
        return [row[0] for row in cursor.fetchall()]


def fleet_org_create(slug: str, tables: list[str], **fields):
    """An organization (row, domain ``<slug>.localhost``, schema) built from the template."""
    from organizations.models import Domain, Organization

    schema = slug.replace("-", "_")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
        for table in tables:
            cursor.execute(
                f'CREATE TABLE "{schema}"."{table}" (LIKE tenant_template."{table}" INCLUDING ALL)'
            )
        cursor.execute(
            f'INSERT INTO "{schema}".django_migrations (app, name, applied) '
            "SELECT app, name, applied FROM tenant_template.django_migrations"
        )
        org = Organization(name=slug.title(), slug=slug, schema_name=schema, **fields)
        org.auto_create_schema = False
        org.save()
        Domain.objects.create(domain=f"{slug}.localhost", tenant=org, is_primary=True)
    return org
