"""``TaskEvent`` and ``EventCounter`` now belong to the events app (events/0001 adds them to its
state with the same tables): removed from this app's state only, the tables stay."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0005_agent_restocked_event"),
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="TaskEvent"),
                migrations.DeleteModel(name="EventCounter"),
            ],
            database_operations=[],
        ),
    ]
