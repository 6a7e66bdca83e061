"""A schema built from the recorded script is the template, object by object.

The script (``organizations.schema_script``) is what every new organization and pooled schema
is made of; if it missed anything a migration creates (a column default, an index, a check, a
trigger, a function, a migration row), new organizations would silently differ from the ones
the migrations built. The fingerprint reads PostgreSQL's catalog by namespace, with the schema
name replaced, and covers what migrations can create.
"""

import pytest
from django.conf import settings
from django.db import connection, transaction

from organizations.models import TenantSchemaScript
from organizations.schema_script import (
    schema_create_from_script,
    schema_migration_state,
    schema_script_current,
    schema_script_render,
)

pytestmark = pytest.mark.django_db(transaction=False)

FINGERPRINT_QUERIES = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = %(ns)s AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relkind IN ('r', 'p', 'v', 'm')
    """,
    "relations": "SELECT relname, relkind FROM pg_class WHERE relnamespace = %(ns)s",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %(name)s",
    "constraints": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE k.connamespace = %(ns)s
    """,
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p WHERE p.pronamespace = %(ns)s
    """,
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = %(ns)s AND NOT t.tgisinternal
    """,
    "sequences": """
        SELECT c.relname, s.seqtypid::regtype::text, s.seqstart, s.seqincrement, s.seqcache
        FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = %(ns)s
    """,
    "migrations": "SELECT app, name FROM {schema}.django_migrations",
}


def fingerprint(schema: str) -> dict[str, list]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [schema])
        (ns,) = cursor.fetchone()
        result = {}
        for key, query in FINGERPRINT_QUERIES.items():
            cursor.execute(query.format(schema=f'"{schema}"'), {"ns": ns, "name": schema})
            rows = [
                tuple(
                    value.replace(f'"{schema}".', "S.").replace(f"{schema}.", "S.")
                    if isinstance(value, str)
                    else value
                    for value in row
                )
                for row in cursor.fetchall()
            ]
            result[key] = sorted(rows, key=repr)
    return result


def _drop(schema: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_a_replayed_schema_is_the_template_object_by_object():
    schema_script_render()
    schema_create_from_script(schema_name="script_twin")
    try:
        template = fingerprint(settings.TENANT_BASE_SCHEMA)
        twin = fingerprint("script_twin")
        for key in FINGERPRINT_QUERIES:
            assert twin[key] == template[key], key
        # Not vacuous: the tenant tables, their indexes and the create function are there.
        assert len(template["relations"]) > 50
        assert any(name == "cc_task_create" for name, _, _ in template["functions"])
        assert schema_migration_state(schema_name="script_twin") == schema_migration_state()
    finally:
        _drop("script_twin")


def test_the_script_is_recorded_once_per_migration_state():
    first = schema_script_render()
    again = schema_script_render()
    assert again.pk == first.pk
    assert TenantSchemaScript.objects.filter(state=schema_migration_state()).count() == 1
    assert schema_script_current() == first.sql
    # The recorded SQL holds no trace of the scratch schema it was recorded on.
    assert "script_" not in first.sql


def test_replay_leaves_the_callers_search_path_alone():
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        (before,) = cursor.fetchone()
    with transaction.atomic():
        schema_create_from_script(schema_name="script_path")
        with connection.cursor() as cursor:
            cursor.execute("SHOW search_path")
            (inside,) = cursor.fetchone()
            # An unqualified public table still resolves to public in the same transaction.
            cursor.execute("SELECT count(*) FROM organizations_organization")
    assert inside == before
    _drop("script_path")


def test_a_failed_replay_leaves_nothing():
    schema_create_from_script(schema_name="script_taken")
    try:
        with pytest.raises(Exception, match="already exists"):
            schema_create_from_script(schema_name="script_taken")
        broken = schema_script_current() + "SELECT no_such_function();\n"
        with pytest.raises(Exception, match="no_such_function"):
            schema_create_from_script(schema_name="script_broken", sql=broken)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'script_broken'")
            assert cursor.fetchone() == (0,)
    finally:
        _drop("script_taken")


def test_a_new_schema_adds_nothing_to_the_shared_tables_catalog():
    """A tenant foreign key to a shared table would hang triggers on it (two per key and
    schema): provisioning would slow down with every organization and every backend would load
    them. References to users carry no constraint (core.fields.tenant_user_fk)."""

    def shared_triggers() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relnamespace = 'public'::regnamespace"
            )
            return cursor.fetchone()[0]

    before = shared_triggers()
    # Not even for a moment: a key added and later dropped by the migrations is left out of
    # the script (it would lock accounts_user against writes until the new schema commits).
    assert 'REFERENCES "accounts_' not in schema_script_current()
    schema_create_from_script(schema_name="script_shared")
    try:
        assert shared_triggers() == before
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                "AND connamespace = 'script_shared'::regnamespace "
                "AND confrelid::regclass::text LIKE 'accounts_%%'"
            )
            assert cursor.fetchone() == (0,)
            # Tenant-internal keys are still constraints (a task's items, an agent's category).
            cursor.execute(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                "AND connamespace = 'script_shared'::regnamespace"
            )
            assert cursor.fetchone()[0] >= 5
    finally:
        _drop("script_shared")


def test_columns_added_with_a_default_get_it_set_afterwards():
    """The shape Django records for a field with a default becomes an ``ADD COLUMN`` without
    one plus ``SET DEFAULT`` (flat with the fleet), except on a table that already has rows."""
    from organizations.schema_script import _defaults_set_after_adding

    recorded = [
        """ALTER TABLE "a" ADD COLUMN "mode" varchar(8) DEFAULT 'line' NOT NULL""",
        """ALTER TABLE "a" ADD COLUMN "actor" jsonb DEFAULT '{"type": "system"}'::jsonb NOT NULL""",
        """ALTER TABLE "a" ADD COLUMN "n" integer DEFAULT -3 NULL""",
        """INSERT INTO "b" ("x") VALUES (1)""",
        """ALTER TABLE "b" ADD COLUMN "flag" boolean DEFAULT true NOT NULL""",
        """ALTER TABLE "a" ADD COLUMN "at" timestamp with time zone DEFAULT now() NOT NULL""",
    ]
    assert _defaults_set_after_adding(recorded) == [
        """ALTER TABLE "a" ADD COLUMN "mode" varchar(8) NOT NULL""",
        """ALTER TABLE "a" ALTER COLUMN "mode" SET DEFAULT 'line'""",
        """ALTER TABLE "a" ADD COLUMN "actor" jsonb NOT NULL""",
        """ALTER TABLE "a" ALTER COLUMN "actor" SET DEFAULT '{"type": "system"}'::jsonb""",
        """ALTER TABLE "a" ADD COLUMN "n" integer NULL""",
        """ALTER TABLE "a" ALTER COLUMN "n" SET DEFAULT -3""",
        # Rows exist: they must be filled with the default, as recorded.
        """INSERT INTO "b" ("x") VALUES (1)""",
        """ALTER TABLE "b" ADD COLUMN "flag" boolean DEFAULT true NOT NULL""",
        # Not a literal (evaluated once per existing row): left alone.
        """ALTER TABLE "a" ADD COLUMN "at" timestamp with time zone DEFAULT now() NOT NULL""",
    ]
