"""``Organization.recall_minutes``, and the ``pg_trgm`` extension in the public schema.

The extension is created here, in a shared (public) migration, and not by a tenant migration:
``CREATE EXTENSION`` installs into the first schema of the search path, so a tenant migration
would put it in whichever tenant migrated first, out of every other tenant's reach. Tenant
schemas find its operator classes through their search path (``<tenant>, public``); the task
search index (tasks/migrations) uses ``gin_trgm_ops``. pg_trgm is a trusted extension
(PostgreSQL 13+): the database owner may create it without superuser rights.

It is created only where the server ships it: the embedded PostgreSQL of ``make run`` and
``make test`` (pgserver) has no contrib extensions. There the task search runs without its
index (a scan of one organization's tasks), with the same results (docs/tasks.md).
"""

from django.db import migrations, models

CREATE_IF_AVAILABLE = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
    END IF;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0003_organization_cors_allowed_origins"),
    ]

    operations = [
        migrations.RunSQL(CREATE_IF_AVAILABLE, reverse_sql=migrations.RunSQL.noop),
        migrations.AddField(
            model_name="organization",
            name="recall_minutes",
            field=models.PositiveIntegerField(default=10),
        ),
    ]
