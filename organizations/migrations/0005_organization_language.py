"""``Organization.language``: the organization's language when a request names none (DESIGN 13)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0004_recall_minutes_pg_trgm"),
    ]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="language",
            field=models.CharField(
                choices=[("zh-hans", "简体中文"), ("en", "English")],
                default="zh-hans",
                max_length=8,
            ),
        ),
    ]
