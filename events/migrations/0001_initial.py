"""The event log moves from the tasks app to this one: ``EventCounter`` and ``TaskEvent`` keep
their tables (``tasks_eventcounter``, ``tasks_taskevent``), rows, sequences, constraints and
indexes. Only Django's state changes here (``SeparateDatabaseAndState``); tasks/0006 removes the
models from the tasks app's state, after this.

``cc_event_append`` is the one SQL definition of an append (the counter upsert and the insert):
``events.services.event_emit`` calls it from Python, ``cc_task_create`` from SQL. The counter
row stays locked until commit, so seq order is commit order. plpgsql: its statement is planned
once per session.
"""

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import events.models

APPEND_FUNCTION = r"""
CREATE OR REPLACE FUNCTION cc_event_append(
    p_type text,
    p_task_id bigint,
    p_category_ids bigint[],
    p_payload jsonb,
    p_actor jsonb,
    p_at timestamptz
) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_seq bigint;
BEGIN
    WITH counter AS (
        INSERT INTO tasks_eventcounter (id, last_seq) VALUES (1, 1)
        ON CONFLICT (id) DO UPDATE SET last_seq = tasks_eventcounter.last_seq + 1
        RETURNING last_seq
    )
    INSERT INTO tasks_taskevent (seq, type, task_id, category_ids, payload, actor, at)
    SELECT last_seq, p_type, p_task_id, p_category_ids, p_payload, p_actor, p_at FROM counter
    RETURNING seq INTO v_seq;
    RETURN v_seq;
END
$fn$;
"""

DROP_APPEND_FUNCTION = """
DROP FUNCTION IF EXISTS cc_event_append(text, bigint, bigint[], jsonb, jsonb, timestamptz);
"""


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tasks", "0005_agent_restocked_event"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="EventCounter",
                    fields=[
                        (
                            "id",
                            models.PositiveSmallIntegerField(
                                default=1, primary_key=True, serialize=False
                            ),
                        ),
                        ("last_seq", models.BigIntegerField(default=0)),
                    ],
                    options={
                        "verbose_name": "event counter",
                        "db_table": "tasks_eventcounter",
                    },
                ),
                migrations.CreateModel(
                    name="TaskEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("seq", models.BigIntegerField(unique=True)),
                        (
                            "type",
                            models.CharField(
                                choices=[
                                    ("task.created", "task.created"),
                                    ("task.updated", "task.updated"),
                                    ("task.status_changed", "task.status_changed"),
                                    ("task.recalled", "task.recalled"),
                                    ("task.cancelled", "task.cancelled"),
                                    ("agent.low_stock", "agent.low_stock"),
                                    ("agent.sold_out", "agent.sold_out"),
                                    ("agent.restocked", "agent.restocked"),
                                ],
                                max_length=32,
                            ),
                        ),
                        (
                            "category_ids",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.BigIntegerField(),
                                blank=True,
                                default=list,
                                size=None,
                            ),
                        ),
                        ("payload", models.JSONField(default=dict)),
                        (
                            "actor",
                            models.JSONField(
                                db_default=models.Value({"type": "system"}, models.JSONField()),
                                default=events.models.system_actor,
                            ),
                        ),
                        ("at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "task",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="events",
                                to="tasks.task",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "task event",
                        "verbose_name_plural": "task events",
                        "db_table": "tasks_taskevent",
                        "ordering": ["seq"],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunSQL(APPEND_FUNCTION, DROP_APPEND_FUNCTION),
    ]
