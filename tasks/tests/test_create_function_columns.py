"""The SQL functions' column lists against the models, so that a model change cannot drift
silently from ``cc_task_create`` / ``cc_event_append``.

The function bodies are read from ``pg_proc`` in the organization's schema (what really runs,
not a copy in Python), every ``INSERT INTO table (columns)`` is parsed, and each table is matched
to its model by ``db_table``. A column the function names must exist; a column of the model the
function leaves out must be listed below, and must be one PostgreSQL may fill alone (nullable
without a Python default, or with a database default). A new field therefore fails here until
someone decides whether the function writes it.
"""

import re

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import NOT_PROVIDED

# Per table: the model columns the create functions leave to PostgreSQL on purpose.
LEFT_OUT = {
    "tasks_task": {
        "id",
        "accepted_at",
        "started_at",
        "ready_at",
        "completed_at",
        "cancelled_at",
        "expired_at",
    },
    "tasks_taskitem": {"id", "done_at", "added_at"},
    "agents_stockmovement": {"id"},
    "tasks_dailysequence": set(),
    "tasks_eventcounter": set(),
    "tasks_taskevent": {"id"},
}
# Which tables each function writes (a function that stops writing one fails too).
WRITES = {
    "cc_task_create": {
        "tasks_dailysequence",
        "tasks_task",
        "agents_stockmovement",
        "tasks_taskitem",
    },
    "cc_event_append": {"tasks_eventcounter", "tasks_taskevent"},
}
_INSERT = re.compile(r"INSERT\s+INTO\s+(\w+)\s*\(([^)]*)\)", re.IGNORECASE)


def _function_source(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname = %s AND n.nspname = %s",
            [name, connection.schema_name],
        )
        rows = cursor.fetchall()
    assert len(rows) == 1, f"{name}: {len(rows)} definitions in the schema"
    return rows[0][0]


def _inserts(source: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for table, columns in _INSERT.findall(source):
        names = [column.strip() for column in columns.split(",")]
        assert table not in found, f"{table} inserted twice"
        found[table] = names
    return found


def _models_by_table() -> dict:
    return {model._meta.db_table: model for model in apps.get_models()}


@pytest.mark.parametrize("function", sorted(WRITES))
def test_function_inserts_match_the_models(acme, function):
    inserts = _inserts(_function_source(function))
    assert set(inserts) == WRITES[function]
    models = _models_by_table()
    for table, columns in inserts.items():
        model = models[table]
        fields = {field.column: field for field in model._meta.concrete_fields}
        assert len(columns) == len(set(columns)), (table, columns)
        unknown = set(columns) - set(fields)
        assert not unknown, f"{function} writes {table} columns the model lacks: {unknown}"
        left_out = set(fields) - set(columns)
        assert left_out == LEFT_OUT[table], (
            f"{function} leaves out {sorted(left_out)} of {table}; decide whether it writes "
            f"the new ones (and update LEFT_OUT): {sorted(left_out ^ LEFT_OUT[table])}"
        )
        for column in left_out:
            field = fields[column]
            if field.primary_key:
                continue
            fills_alone = field.db_default is not NOT_PROVIDED or (
                field.null and field.default in (None, NOT_PROVIDED)
            )
            assert fills_alone, f"{table}.{column} needs a value the function does not give"


def test_one_sql_definition_of_an_event_append(acme):
    """The create function appends through cc_event_append; it never touches the event tables
    itself (the counter upsert lives in one place)."""
    source = _function_source("cc_task_create")
    assert "cc_event_append(" in source
    assert "tasks_eventcounter" not in source and "tasks_taskevent" not in source
    assert "cc_task_create_by" not in {name for (name,) in _functions_named("cc_task_create%")}


def _functions_named(pattern: str) -> list[tuple[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname LIKE %s AND n.nspname = %s",
            [pattern, connection.schema_name],
        )
        return cursor.fetchall()
