"""``Organization.recall_minutes``, and the ``pg_trgm`` extension in the public schema.

The extension is created here, in a shared (public) migration, and not by a tenant migration:
``CREATE EXTENSION`` installs into the first schema of the search path, so a tenant migration
would put it in whichever tenant migrated first, out of every other tenant's reach. Tenant
schemas find its operator classes through their search path (``<tenant>, public``); the task
search index (tasks/migrations) uses ``gin_trgm_ops``. pg_trgm is a trusted extension
(PostgreSQL 13+): the database owner may create it without superuser rights.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0003_organization_cors_allowed_origins"),
    ]

    operations = [
        TrigramExtension(),
        migrations.AddField(
            model_name="organization",
            name="recall_minutes",
            field=models.PositiveIntegerField(default=10),
        ),
    ]
