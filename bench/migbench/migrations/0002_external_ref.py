"""The bench's "new migration": a nullable column without a default (a catalog-only change, no
table rewrite) and an index on it. Plain ``CREATE INDEX`` inside the migration's transaction:
a tenant's table is small, so the build holds its lock for milliseconds (docs/migrations.md
says when to build concurrently instead)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("migbench", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="benchnote",
            name="external_ref",
            field=models.CharField(blank=True, max_length=40, null=True),  # noqa: DJ001
        ),
        migrations.AddIndex(
            model_name="benchnote",
            index=models.Index(fields=["external_ref"], name="migbench_note_ext_ref_idx"),
        ),
    ]
