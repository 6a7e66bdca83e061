"""A new tenant schema in one round trip, whatever the number of schemas already there.

Cloning the template (django-tenants' ``clone_schema``) and running the migrations both read
PostgreSQL's catalog through views and introspection queries that scan every schema's
relations: seconds per new schema at 1,000 schemas, tens at 10,000. Creating tables does not
scan the catalog. So the statements the tenant migrations execute on an empty schema are
recorded once per migration state (on a scratch schema, then dropped), stored in
``TenantSchemaScript``, and replayed for every new schema: ``CREATE SCHEMA``, ``SET LOCAL
search_path`` and the recorded script, in one statement batch inside the caller's transaction.

What is recorded: every statement the migrations run except reads and search_path switches
(``SELECT``, ``SHOW``, ``SET search_path``: the migration framework's introspection, its
``django_migrations`` reads and django-tenants' schema switches), with their parameters bound,
including the ``django_migrations`` rows, so a replayed schema is a fully migrated tenant to
django-tenants. Names are unqualified (the migrations rely on ``search_path``), so one script
serves every schema name. A migration whose effect depends on the result of a top-level
``SELECT`` would not be reproduced: ``organizations/tests/test_schema_script.py`` compares a
replayed schema with the template, object by object, so such a drift fails the suite rather
than production.
"""

import hashlib
import logging
import re
import threading
import time
import uuid

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

from .models import TenantSchemaScript

logger = logging.getLogger(__name__)

# Reads and the search_path switches of the migration framework; a compound statement that
# starts with SET (Django drops a foreign key with "SET CONSTRAINTS ..; ALTER TABLE ..") is kept.
_SKIPPED = re.compile(r"^\s*(SELECT|SHOW)\b|^\s*SET\s+search_path\b[^;]*;?\s*$", re.IGNORECASE)
_ADD_CONSTRAINT = re.compile(r'^ALTER TABLE "[^"]+" ADD CONSTRAINT "([^"]+)" [^;]*$')
_DROP_CONSTRAINT = re.compile(
    r'^SET CONSTRAINTS "([^"]+)" IMMEDIATE; ALTER TABLE "[^"]+" DROP CONSTRAINT "\1"$'
)
# One script per process and state: provisioning reads the state (one query) and replays.
_memo: dict[str, str] = {}
_memo_lock = threading.Lock()


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Part of every state: a change to how the script is recorded makes the stored scripts stale.
RECORDER_VERSION = "3"


def schema_migration_state(*, schema_name: str | None = None) -> str:
    """A hash of the migrations applied in ``schema_name`` (the template by default)."""
    schema_name = schema_name or settings.TENANT_BASE_SCHEMA
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT app, name FROM {quote_name(schema_name)}.django_migrations "  # noqa: S608
            "ORDER BY app, name"
        )
        rows = cursor.fetchall()
    digest = hashlib.sha256(f"recorder {RECORDER_VERSION}\n".encode())
    for app, name in rows:
        digest.update(f"{app}.{name}\n".encode())
    return digest.hexdigest()


def _record_migrations(schema_name: str) -> list[str]:
    """Run every tenant migration on the empty schema ``schema_name``; return what it wrote."""
    statements: list[str] = []
    connection.ensure_connection()
    # Binds parameters client-side without touching the executing cursor's result.
    binder = psycopg.ClientCursor(connection.connection)

    def record(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.strip() and not _SKIPPED.match(sql):
            for one in params if many else [params]:
                statements.append(binder.mogrify(sql, one) if one is not None else sql)
        return result

    with connection.execute_wrapper(record):
        call_command("migrate_schemas", schema_name=schema_name, interactive=False, verbosity=0)
    return statements


def _without_dropped_constraints(statements: list[str]) -> list[str]:
    """Leave out a constraint the migrations add and a later migration drops.

    Replaying history verbatim would, for instance, create each user foreign key and drop it
    again, and creating one locks the shared ``accounts_user`` against writes until the new
    schema commits. A constraint named by exactly two statements, an add (``ALTER TABLE ..
    ADD CONSTRAINT``, or inline in ``ADD COLUMN``) and a later drop, is removed from both; the
    object-by-object test checks the result equals the template.
    """
    statements = list(statements)
    for index, statement in enumerate(statements):
        match = _DROP_CONSTRAINT.match(statement)
        if not match:
            continue
        quoted = f'"{match.group(1)}"'
        others = [i for i, other in enumerate(statements) if quoted in other and i != index]
        if len(others) != 1 or others[0] > index:
            continue
        added = statements[others[0]]
        inline = re.compile(
            rf" CONSTRAINT {re.escape(quoted)} REFERENCES [^;]* DEFERRABLE INITIALLY DEFERRED;"
            rf" SET CONSTRAINTS {re.escape(quoted)} IMMEDIATE$"
        )
        if _ADD_CONSTRAINT.match(added):
            statements[others[0]] = ""
        elif inline.search(added):
            statements[others[0]] = inline.sub("", added)
        else:
            continue
        statements[index] = ""
    return [statement for statement in statements if statement]


# ``ALTER TABLE "t" ADD COLUMN "c" <type> DEFAULT <literal> [NOT NULL]`` as Django writes it for
# a field with a default: a quoted string (optionally cast), a number or a boolean.
_ADD_COLUMN_WITH_DEFAULT = re.compile(
    r'^ALTER TABLE (?P<table>"[^"]+") ADD COLUMN (?P<column>"[^"]+") (?P<type>[^;\']+?)'
    r" DEFAULT (?P<default>'(?:[^']|'')*'(?:::[a-z ]+)?|-?\d+(?:\.\d+)?|true|false)"
    r"(?P<null> NOT NULL| NULL)?$"
)
_INSERT_INTO = re.compile(r'^INSERT INTO (?P<table>"[^"]+")')


def _defaults_set_after_adding(statements: list[str]) -> list[str]:
    """Add a column with a default as a plain column, then set the default.

    The same end state on a table with no rows, and flat with the fleet: PostgreSQL (15.x)
    checks every column added with a default against the uses of the table's row type, a scan
    that grows with the catalog (100-220 ms per column at 10,000 schemas against 1 ms at 10;
    docs/performance.md), while ``ADD COLUMN`` without one and ``SET DEFAULT`` stay at a
    millisecond. A table the script has inserted rows into before (a data migration) keeps the
    statement as recorded: its rows need the default.
    """
    filled: set[str] = set()
    result = []
    for statement in statements:
        inserted = _INSERT_INTO.match(statement)
        if inserted:
            filled.add(inserted["table"])
        match = _ADD_COLUMN_WITH_DEFAULT.match(statement)
        if match is None or match["table"] in filled:
            result.append(statement)
            continue
        table, column = match["table"], match["column"]
        result.append(
            f"ALTER TABLE {table} ADD COLUMN {column} {match['type']}{match['null'] or ''}"
        )
        result.append(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {match['default']}")
    return result


def schema_script_render() -> TenantSchemaScript:
    """Record the script of the template's current migration state (seconds; once per state).

    Called by ``platform_setup`` after it migrates the template, and by provisioning when a
    deploy brought new migrations and nobody rendered yet. Two processes rendering the same
    state at once both succeed: the second one's row is discarded.
    """
    connection.set_schema_to_public()
    state = schema_migration_state()
    existing = TenantSchemaScript.objects.filter(state=state).first()
    if existing is not None:
        return existing
    scratch = f"script_{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {quote_name(scratch)}")
    try:
        statements = _record_migrations(scratch)
        connection.set_schema_to_public()
        recorded = schema_migration_state(schema_name=scratch)
    finally:
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {quote_name(scratch)} CASCADE")
    if recorded != state:
        # The template is behind or ahead of the code (a deploy half done): replaying what the
        # code migrates would give schemas the template does not have.
        raise RuntimeError(
            "The tenant template's migrations differ from the code's: run "
            "`manage.py platform_setup` (it migrates the template), then provision again."
        )
    statements = _defaults_set_after_adding(_without_dropped_constraints(statements))
    sql = ";\n".join(statements) + ";\n"
    script, _ = TenantSchemaScript.objects.get_or_create(
        state=state, defaults={"sql": sql, "statements": len(statements)}
    )
    logger.info(
        "tenant schema script recorded",
        extra={
            "state": state[:12],
            "statements": len(statements),
            "seconds": round(time.monotonic() - started, 2),
        },
    )
    return script


def schema_script_current() -> str:
    """The SQL for the template's current migration state (recorded now if missing)."""
    state = schema_migration_state()
    sql = _memo.get(state)
    if sql is None:
        row = TenantSchemaScript.objects.filter(state=state).only("sql").first()
        sql = row.sql if row is not None else schema_script_render().sql
        with _memo_lock:
            _memo.clear()
            _memo[state] = sql
    return sql


def schema_script_batch(*, schema_names: list[str], sql: str) -> str:
    """One statement batch creating each of ``schema_names`` from the recorded ``sql``.

    ``SET LOCAL`` would last until the caller's transaction ends (rows written after the batch,
    such as the domain and the owner, must not resolve to a new schema): the path in force is
    saved first and put back last.
    """
    save = "SELECT set_config('cc.saved_search_path', current_setting('search_path'), true);\n"
    restore = "SELECT set_config('search_path', current_setting('cc.saved_search_path'), true);\n"
    batch = [save]
    for schema_name in schema_names:
        name = quote_name(schema_name)
        batch.append(f"CREATE SCHEMA {name};\nSET LOCAL search_path TO {name}, public;\n{sql}")
    batch.append(restore)
    return "".join(batch)


def schema_create_from_script(*, schema_name: str, sql: str | None = None) -> None:
    """Create ``schema_name`` with every tenant table, index, function and migration row.

    One round trip for the whole schema, inside a transaction: on any error nothing is left.
    """
    sql = schema_script_current() if sql is None else sql
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(schema_script_batch(schema_names=[schema_name], sql=sql))
