"""The Citus path stays open (DESIGN 14; issue 18 item 6; docs/scaling.md "Past one PostgreSQL").

Under Citus schema-based sharding every tenant schema becomes a distributed schema (its tables
live together on one node) and the shared tables of ``public`` become reference tables (copied
to every node). That works as long as:

1. a tenant table's foreign keys point only to tables of its own schema or to the documented
   reference tables (a distributed table may reference a reference table, nothing else);
2. no statement a tenant's request sends touches another tenant's schema, names a schema at all
   (tables resolve through the ``search_path``), or joins its tables with a shared table that is
   not a reference table;
3. no raw SQL in the code qualifies a table with a tenant schema, except the documented
   provisioning statements (one schema each) and the known cross-schema reads listed below.
"""

import ast
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from testing.factories import catalog_make

ROOT = Path(__file__).resolve().parents[2]

# The shared tables a tenant table may reference, by model: they become Citus reference tables
# (``create_reference_table``). docs/scaling.md lists the same. Adding one is a decision: every
# write to a reference table is a write on every node.
REFERENCE_MODELS = {"accounts.User"}

# Shared tables a tenant statement may join or read in the same statement as tenant tables: the
# reference tables (select_related("created_by") joins accounts_user).
REFERENCE_TABLES = {"accounts_user"}

# Raw SQL that names a schema through a placeholder, by file: what it does and why it is
# allowed. Provisioning touches one schema per statement (fine on Citus: it runs before or
# while the schema is distributed). organizations/admin_usage.py reads many tenant schemas in
# one UNION ALL statement (the operators' usage columns and fleet page): on Citus it must become
# one statement per schema, or per node (docs/scaling.md, "What changes"). A new entry here
# needs the same justification in docs/scaling.md.
SCHEMA_QUALIFIED_SQL = {
    "organizations/schema_pool.py": "provisioning: one schema per statement",
    "organizations/schema_script.py": "provisioning: one schema per statement",
    "organizations/fleet_migrations.py": "fleet migrations: one schema per transaction",
    "organizations/admin_usage.py": "KNOWN CROSS-SCHEMA READ: split per schema before Citus",
}

# Schemas any statement may name: PostgreSQL's catalogs and the shared schema.
SYSTEM_SCHEMAS = {"public", "pg_catalog", "information_schema", "pg_temp"}


def _app_labels(entries: list[str]) -> set[str]:
    """App labels of SHARED_APPS/TENANT_APPS entries (an app's module or its AppConfig path)."""
    labels = set()
    for config in apps.get_app_configs():
        path = f"{type(config).__module__}.{type(config).__qualname__}"
        if config.name in entries or path in entries:
            labels.add(config.label)
    return labels


def _tenant_only_labels() -> set[str]:
    return _app_labels(settings.TENANT_APPS) - _app_labels(settings.SHARED_APPS)


def _shared_tables() -> set[str]:
    """Tables only the public schema holds."""
    tenant = _tenant_only_labels()
    return {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label not in tenant and model._meta.managed
    }


# --- 1. foreign keys -------------------------------------------------------------------------


def test_tenant_tables_reference_only_their_schema_and_the_reference_tables():
    tenant = _tenant_only_labels()
    assert {"agents", "tasks", "events", "displays", "reports", "audit", "exports"} <= tenant
    outside, seen = [], set()
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label not in tenant:
            continue
        for field in model._meta.get_fields():
            if not (field.is_relation and field.concrete and field.related_model):
                continue
            target = field.related_model._meta
            if target.app_label in tenant:
                continue
            seen.add(target.label)
            if target.label not in REFERENCE_MODELS:
                outside.append(f"{model._meta.label}.{field.name} -> {target.label}")
    assert outside == [], "tenant tables referencing shared tables that are not reference tables"
    # The list is exact: a reference model nothing references any more is dropped from it.
    assert seen == REFERENCE_MODELS
    assert {apps.get_model(label)._meta.db_table for label in REFERENCE_MODELS} == (
        REFERENCE_TABLES
    )


def test_shared_tables_never_reference_tenant_tables():
    """A reference table cannot point into a distributed schema (and public has no tenant
    tables to point to): shared models keep organizations' data as plain ids."""
    tenant = _tenant_only_labels()
    inward = [
        f"{model._meta.label}.{field.name} -> {field.related_model._meta.label}"
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label not in tenant
        for field in model._meta.get_fields()
        if field.is_relation
        and field.concrete
        and field.related_model
        and field.related_model._meta.app_label in tenant
    ]
    assert inward == []


def test_the_tenant_schema_has_no_foreign_key_leaving_it_except_to_reference_tables(acme):
    """The same, read from PostgreSQL: every foreign key declared in a tenant schema (Django's,
    the migrations' raw SQL, the template clone) points into that schema or to a reference
    table of public."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT src.relname, dst_ns.nspname, dst.relname
              FROM pg_constraint c
              JOIN pg_class src ON src.oid = c.conrelid
              JOIN pg_namespace src_ns ON src_ns.oid = src.relnamespace
              JOIN pg_class dst ON dst.oid = c.confrelid
              JOIN pg_namespace dst_ns ON dst_ns.oid = dst.relnamespace
             WHERE c.contype = 'f' AND src_ns.nspname = %s
            """,
            [acme.schema],
        )
        rows = cursor.fetchall()
    assert rows, "the tenant schema has foreign keys"
    leaving = [
        row
        for row in rows
        if row[1] != acme.schema and not (row[1] == "public" and row[2] in REFERENCE_TABLES)
    ]
    assert leaving == []


# --- 2. the statements of a tenant's requests -------------------------------------------------


def _schemas() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace")
        return {row[0] for row in cursor.fetchall()}


_SET_PATH = re.compile(r"^\s*SET\s+search_path\b", re.IGNORECASE)
_IDENTIFIER = r'(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)'
_LITERAL = re.compile(r"'(?:[^']|'')*'")  # 'acme.localhost' is a value, not a qualifier
_QUALIFIED = re.compile(rf"({_IDENTIFIER})\s*\.\s*({_IDENTIFIER})")


def _qualifiers(sql: str, schemas: set[str]) -> set[str]:
    """Schema names used as qualifiers (``schema.table``) in ``sql``; ``alias.column`` and
    ``table.column`` name no schema and are left out."""
    found = set()
    for left, _ in _QUALIFIED.findall(_LITERAL.sub("''", sql)):
        name = left.strip('"')
        if name in schemas:
            found.add(name)
    return found


def _tables_in(sql: str, tables: set[str]) -> set[str]:
    return {table for table in tables if re.search(rf'"{re.escape(table)}"|\b{table}\b', sql)}


def _tenant_requests(org, other) -> list[tuple[str, str, dict | None, str]]:
    """(method, path, body, role) of a representative set of a tenant's API requests."""
    with org.active():
        catalog = catalog_make()
    body = {"items": [{"agent_id": catalog.noodles.pk, "quantity": 2}], "customer_name": "c"}
    # Business dates may trail UTC's by a day (the organization's day start and timezone).
    end = date.today() - timedelta(days=2)
    start = end - timedelta(days=30)
    return [
        ("get", "/api/v1/auth/me/", None, "staff"),
        ("get", "/api/v1/agent-categories/", None, "staff"),
        ("get", "/api/v1/agents/", None, "staff"),
        ("post", "/api/v1/tasks/", body, "staff"),
        ("post", "/api/v1/tasks/", body, "staff"),
        ("get", "/api/v1/tasks/", None, "staff"),
        ("post", "/api/v1/tasks/{task}/accept/", {}, "staff"),
        ("post", "/api/v1/tasks/{task}/notes/", {"text": "no onions"}, "staff"),
        ("get", "/api/v1/tasks/{task}/notes/", None, "staff"),
        ("get", "/api/v1/tasks/{task}/", None, "staff"),
        ("get", "/api/v1/tasks/events/?after_seq=0", None, "staff"),
        ("get", f"/api/v1/reports/dashboard/?from={start}&to={end}", None, "manager"),
        ("get", "/api/v1/screens/", None, "manager"),
        ("get", "/api/v1/audit/", None, "manager"),
        ("get", "/api/v1/members/", None, "owner"),
        ("get", "/api/v1/organization/", None, "owner"),
    ]


def test_no_tenant_statement_names_another_schema_or_joins_a_non_reference_shared_table(
    acme, globex
):
    schemas = _schemas()
    assert {acme.schema, globex.schema} <= schemas
    shared = _shared_tables()
    tenant_tables = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label in _tenant_only_labels()
    }
    checked, problems = 0, []
    for org, other in ((acme, globex), (globex, acme)):
        task_id = None
        for method, path, body, role in _tenant_requests(org, other):
            client = org.client(role)
            if "{task}" in path:
                path = path.format(task=task_id)
            with CaptureQueriesContext(connection) as ctx:
                response = getattr(client, method)(path, body, format="json")
            connection.set_schema_to_public()
            assert response.status_code in (200, 201), (path, response.content[:300])
            if path == "/api/v1/tasks/" and method == "post":
                task_id = response.json()["id"]
            for query in ctx.captured_queries:
                sql = query["sql"]
                checked += 1
                if _SET_PATH.match(sql):
                    # The only place a schema is named: the tenant's own, then public.
                    named = set(re.findall(r'"([^"]+)"', sql))
                    if not named <= {org.schema, "public"}:
                        problems.append((path, "search_path", sql))
                    continue
                if re.search(rf"\b{re.escape(other.schema)}\b", sql):
                    problems.append((path, "other tenant named", sql))
                qualifiers = _qualifiers(sql, schemas) - SYSTEM_SCHEMAS
                if qualifiers:
                    problems.append((path, f"schema-qualified {qualifiers}", sql))
                if _tables_in(sql, tenant_tables):
                    joined = _tables_in(sql, shared) - REFERENCE_TABLES
                    if joined:
                        problems.append((path, f"tenant + shared {joined}", sql))
    assert checked > 100
    assert problems == [], problems[:3]


# --- 3. raw SQL in the code -------------------------------------------------------------------

_SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|TRUNCATE)\b")
_PLACEHOLDER = r"(?:\{[^{}]+\}|%\([a-z_]+\)s)"
_TABLE_POSITION = re.compile(
    rf"\b(?:FROM|JOIN|INTO|UPDATE|TABLE|REFERENCES|ON\s+TABLE)\s+"
    rf"({_IDENTIFIER}|{_PLACEHOLDER})\s*\.\s*({_IDENTIFIER}|{_PLACEHOLDER})",
    re.IGNORECASE,
)


def _sql_strings(path: Path) -> list[tuple[int, str]]:
    """String literals and f-strings of a module that look like SQL (f-string parts as
    ``{expression}``), with their line numbers."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(
                part.value if isinstance(part, ast.Constant) else f"{{{ast.unparse(part.value)}}}"
                for part in node.values
            )
        else:
            continue
        if _SQL_WORDS.search(text):
            out.append((node.lineno, text))
    return out


def _project_modules() -> list[Path]:
    skip = {".venv", "node_modules", "tests", "bench", "scripts", "locale", "static"}
    return [
        path
        for path in ROOT.rglob("*.py")
        if not skip.intersection(path.relative_to(ROOT).parts) and path.name != "conftest.py"
    ]


def test_no_raw_sql_qualifies_a_table_with_a_tenant_schema():
    modules = _project_modules()
    assert any(p.match("*/migrations/*.py") for p in modules)  # RunSQL bodies are included
    qualified, files_with_schema_sql = [], set()
    for path in modules:
        relative = path.relative_to(ROOT).as_posix()
        for line, sql in _sql_strings(path):
            # Adjacent literals are one constant: a statement split over lines is whole here.
            for schema, _ in _TABLE_POSITION.findall(sql):
                name = schema.strip('"')
                if name in SYSTEM_SCHEMAS:
                    continue
                if relative in SCHEMA_QUALIFIED_SQL and schema.startswith("{"):
                    files_with_schema_sql.add(relative)
                    continue
                qualified.append(f"{relative}:{line}: {schema}.")
    assert qualified == [], qualified
    # Each allowed file still needs its entry (a stale one is removed with its docs line).
    assert files_with_schema_sql == set(SCHEMA_QUALIFIED_SQL)


def test_the_static_check_catches_a_qualified_table(tmp_path):
    """The checker itself: it finds a tenant-qualified table in a literal and in an f-string,
    and leaves ``alias.column`` and ``public.x`` alone."""
    module = tmp_path / "example.py"
    module.write_text(
        "A = 'SELECT t.id FROM tasks_task t JOIN public.accounts_user u ON u.id = t.created_by'\n"
        "B = 'SELECT 1 FROM acme.tasks_task'\n"
        "C = f'SELECT count(*) FROM {schema}.{table} WHERE id = %s'\n"
    )
    found = [
        (line, schema)
        for line, sql in _sql_strings(module)
        for schema, _ in _TABLE_POSITION.findall(sql)
        if schema.strip('"') not in SYSTEM_SCHEMAS
    ]
    assert found == [(2, "acme"), (3, "{schema}")]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('SELECT "tasks_task"."id" FROM "tasks_task"', set()),
        ('SELECT "x"."id" FROM "acme"."tasks_task" x', {"acme"}),
        ("SELECT 1 FROM public.accounts_user", {"public"}),
        ("SELECT 1 FROM organizations_domain WHERE domain = 'acme.localhost'", set()),
    ],
)
def test_qualifier_detection(sql, expected):
    assert _qualifiers(sql, {"acme", "public", "globex"}) == expected
