"""Migrating every tenant schema of the fleet: each pending migration rendered to SQL once and
replayed per schema in one transaction, over several connections (``manage.py migrate_fleet``,
docs/migrations.md).

Why not ``migrate_schemas --tenant``: Django's executor rebuilds the migration loader, the
recorder and introspects the catalog for every schema (~0.1 s per schema with nothing to apply,
growing with the catalog), so 10,000 schemas cost 16 minutes before any work. Here the plan is
computed once, each migration's SQL is rendered once (``schema_editor(collect_sql=True)``, as
``sqlmigrate`` does; names are unqualified and resolved through ``search_path``), and a schema
costs a handful of round trips plus the DDL itself.

Resumable by construction: a schema's DDL and its ``django_migrations`` rows commit in the same
transaction, so a run killed at any point leaves each schema migrated or untouched, and the next
run applies only what each schema lacks (it re-reads ``django_migrations`` under a lock).

A migration that cannot be written as SQL (``RunPython`` in a tenant app, any operation that does
not reduce to SQL) sends the schemas that lack it to django-tenants' own per-schema migrate
(``django_tenants.migration_executors.base.run_migrations``), in parallel processes.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connection, router
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.special import SeparateDatabaseAndState

from .models import Organization, PooledSchema
from .schema_script import quote_name, schema_script_render

logger = logging.getLogger(__name__)

APPLICATION_NAME = "migrate_fleet"
Key = tuple[str, str]


@dataclass(frozen=True)
class RenderedMigration:
    """One migration as the tenant schemas run it."""

    key: Key
    atomic: bool
    # None: the migration cannot be written as SQL (the schemas lacking it use Django's executor).
    sql: tuple[str, ...] | None
    # The django_migrations rows applying it writes (a squashed migration records what it replaces).
    records: tuple[Key, ...]


@dataclass
class SchemaError:
    schema: str
    migration: str
    message: str


@dataclass
class FleetResult:
    schemas: int = 0
    migrated: int = 0
    up_to_date: int = 0
    skipped: int = 0
    fallback: int = 0
    # migration -> how many schemas lacked it when the run started
    pending: dict[str, int] = field(default_factory=dict)
    errors: list[SchemaError] = field(default_factory=list)
    template_applied: list[str] = field(default_factory=list)
    seconds: float = 0.0


# --- The plan -------------------------------------------------------------------------------


def migration_order() -> list:
    """Every migration of the project, in the order a fresh database applies them."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    graph = loader.graph
    seen: set[Key] = set()
    order = []
    for leaf in sorted(graph.leaf_nodes()):
        for node in graph.forwards_plan(leaf):
            if node not in seen:
                seen.add(node)
                order.append(graph.nodes[node])
    return order


def _is_applied(migration, applied: set[Key]) -> bool:
    key = (migration.app_label, migration.name)
    if key in applied:
        return True
    return bool(migration.replaces) and all(tuple(r) in applied for r in migration.replaces)


def pending_for(order: list, applied: set[Key]) -> list:
    return [m for m in order if not _is_applied(m, applied)]


def _operations(operations: Iterable) -> Iterable:
    for operation in operations:
        if isinstance(operation, SeparateDatabaseAndState):
            yield from _operations(operation.database_operations)
        else:
            yield operation


def _renderable(migration) -> bool:
    """False when an operation that would run in a tenant schema cannot be written as SQL.

    Operations of shared apps (``RunPython`` in ``organizations``...) are no-ops in a tenant
    schema: django-tenants' router refuses them there, so they do not count.
    """
    for operation in _operations(migration.operations):
        if operation.reduces_to_sql:
            continue
        hints = getattr(operation, "hints", {}) or {}
        if router.allow_migrate(connection.alias, migration.app_label, **hints):
            return False
    return True


def migration_render(migration, *, loader: MigrationLoader, schema: str) -> RenderedMigration:
    """The SQL of ``migration`` for a tenant schema, rendered against ``schema`` (a schema that
    lacks it: the few operations that introspect the database see the state they change)."""
    key = (migration.app_label, migration.name)
    records = tuple(tuple(r) for r in migration.replaces) if migration.replaces else (key,)
    connection.set_schema(schema)
    if not _renderable(migration):
        return RenderedMigration(key=key, atomic=migration.atomic, sql=None, records=records)
    state = loader.project_state(key, at_end=False)
    with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
        migration.apply(state, editor, collect_sql=True)
    # Drop the "-- <operation>" banners collect_sql adds; keep every statement.
    sql = tuple(
        s for s in editor.collected_sql if not ("\n" not in s and s.lstrip().startswith("--"))
    )
    return RenderedMigration(key=key, atomic=migration.atomic, sql=sql, records=records)


def fleet_schemas() -> list[str]:
    """Every tenant schema: each organization's (not public) and the warm pool's."""
    public = settings.PUBLIC_SCHEMA_NAME
    names = list(
        Organization.objects.exclude(schema_name=public)
        .order_by("schema_name")
        .values_list("schema_name", flat=True)
    )
    seen = set(names)
    for name in PooledSchema.objects.order_by("schema_name").values_list("schema_name", flat=True):
        if name not in seen:
            names.append(name)
            seen.add(name)
    return names


# --- Raw connections for the workers --------------------------------------------------------


def raw_connect() -> psycopg.Connection:
    """A plain psycopg connection to the project's database (no Django state, autocommit)."""
    db = connection.settings_dict
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    for name, value in (db.get("OPTIONS") or {}).items():
        if name in ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout"):
            params[name] = value
    params = {k: v for k, v in params.items() if v is not None}
    return psycopg.connect(**params, autocommit=True, application_name=APPLICATION_NAME)


def applied_read(schemas: list[str], *, batch: int = 500) -> dict[str, set[Key] | None]:
    """Each schema's django_migrations rows (None: no such schema, or no table in it)."""
    result: dict[str, set[Key] | None] = {}
    with raw_connect() as conn:
        # pg_class by its (relname, relnamespace) index: information_schema's views check
        # privileges on every relation of every schema (seconds at 10,000 schemas).
        rows = conn.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'django_migrations' AND c.relkind IN ('r', 'p') "
            "AND n.nspname = ANY(%s)",
            [schemas],
        ).fetchall()
        present = {row[0] for row in rows}
        existing = [s for s in schemas if s in present]
        for schema in schemas:
            result[schema] = set() if schema in present else None
        for start in range(0, len(existing), batch):
            chunk = existing[start : start + batch]
            query = " UNION ALL ".join(
                f"SELECT {i}, app, name FROM {quote_name(s)}.django_migrations"  # noqa: S608
                for i, s in enumerate(chunk)
            )
            for index, app, name in conn.execute(query):
                result[chunk[index]].add((app, name))
    return result


# --- Applying to one schema -----------------------------------------------------------------


class _PlanChanged(Exception):
    pass


class _MigrationFailed(Exception):
    def __init__(self, key: Key, error: psycopg.Error):
        super().__init__(str(error))
        self.key = key
        self.error = error


def _schema_apply(
    conn: psycopg.Connection,
    schema: str,
    *,
    order: list,
    rendered: dict[Key, RenderedMigration],
    lock_timeout: str,
    sleep: float,
) -> list[Key]:
    """Apply what ``schema`` lacks; returns the migrations applied. Raises on an SQL error (the
    transaction is rolled back: the schema is as it was)."""
    q = quote_name(schema)
    done: list[Key] = []
    prelude = (
        f"SET LOCAL search_path TO {q}, public; "
        f"SET LOCAL lock_timeout = '{lock_timeout}'; "
        # Two runs at once: the second waits here, then re-reads what the first wrote.
        f"LOCK TABLE {q}.django_migrations IN SHARE ROW EXCLUSIVE MODE"
    )
    while True:
        non_atomic = None
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(prelude)
            cursor.execute(f"SELECT app, name FROM {q}.django_migrations")  # noqa: S608
            applied = {tuple(row) for row in cursor.fetchall()}
            pending = [rendered.get((m.app_label, m.name)) for m in pending_for(order, applied)]
            if not pending:
                return done
            if any(item is None or item.sql is None for item in pending):
                raise _PlanChanged
            batch = []
            for item in pending:
                if not item.atomic:
                    non_atomic = item
                    break
                batch.append(item)
            for item in batch:
                if item.sql:
                    try:
                        cursor.execute("\n".join(item.sql))
                    except psycopg.Error as exc:
                        raise _MigrationFailed(item.key, exc) from exc
            if batch and sleep:
                cursor.execute("SELECT pg_sleep(%s)", [sleep])
            _record(cursor, q, [r for item in batch for r in item.records])
            done.extend(item.key for item in batch)
        if non_atomic is None:
            continue
        # A non-atomic migration (CREATE INDEX CONCURRENTLY...): its statements run one by one
        # outside a transaction, as Django runs them; its rows are written once they all passed.
        # Killed midway, it is run again whole: write such migrations to be re-runnable
        # (IF NOT EXISTS; docs/migrations.md).
        with conn.cursor() as cursor:
            cursor.execute(f"SET search_path TO {q}, public")
            cursor.execute(f"SET lock_timeout = '{lock_timeout}'")
            try:
                for statement in non_atomic.sql:
                    cursor.execute(statement)
            except psycopg.Error as exc:
                raise _MigrationFailed(non_atomic.key, exc) from exc
            finally:
                cursor.execute("RESET search_path; RESET lock_timeout")
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(prelude)
            _record(cursor, q, list(non_atomic.records))
        done.append(non_atomic.key)


def _record(cursor, q: str, records: list[Key]) -> None:
    if not records:
        return
    cursor.executemany(
        f"INSERT INTO {q}.django_migrations (app, name, applied) "  # noqa: S608
        f"SELECT %s, %s, now() WHERE NOT EXISTS "
        f"(SELECT 1 FROM {q}.django_migrations WHERE app = %s AND name = %s)",
        [(app, name, app, name) for app, name in records],
    )


# --- Progress -------------------------------------------------------------------------------


class Progress:
    """``done/total``, rate and ETA on stderr: rewritten in place on a terminal, one line per
    ``interval`` seconds otherwise (logs, CI, a parent process reading it)."""

    def __init__(self, total: int, write: Callable[[str], None], *, tty: bool, label: str):
        self.total = total
        self.write = write
        self.tty = tty
        self.label = label
        self.done = 0
        self.errors = 0
        self.started = time.monotonic()
        self.last = 0.0
        self.interval = 0.2 if tty else 1.0
        self.lock = threading.Lock()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        percent = 100 * self.done / self.total if self.total else 100
        return (
            f"{self.label}: {self.done}/{self.total} schemas ({percent:.0f}%), "
            f"{rate:.1f}/s, elapsed {elapsed:.0f}s, ETA {eta}, errors {self.errors}"
        )

    def step(self, *, error: bool = False) -> None:
        with self.lock:
            self.done += 1
            self.errors += int(error)
            now = time.monotonic()
            if now - self.last >= self.interval or self.done == self.total:
                self.last = now
                self.write(("\r" + self.line()) if self.tty else self.line() + "\n")

    def close(self) -> None:
        if self.tty:
            self.write("\r" + self.line() + "\n")


# --- The fallback: Django's executor, per schema, in processes ------------------------------


def _django_migrate_one(schema: str) -> str | None:
    from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand
    from django_tenants.migration_executors.base import run_migrations

    try:
        parser = MigrateSchemasCommand().create_parser("manage.py", "migrate_schemas")
        options = vars(parser.parse_args(["--noinput", "--verbosity", "0"]))
        run_migrations([], options, APPLICATION_NAME, schema, allow_atomic=False)
    except Exception as exc:  # reported per schema, the others go on
        return f"{type(exc).__name__}: {exc}"
    return None


def _django_migrate(schemas: list[str], jobs: int, progress: Progress, result: FleetResult):
    connection.close()
    context = multiprocessing.get_context("fork")
    with context.Pool(processes=max(1, jobs)) as pool:
        for schema, error in zip(schemas, pool.imap(_django_migrate_one, schemas), strict=True):
            if error:
                result.errors.append(SchemaError(schema, "(Django executor)", error))
            else:
                result.migrated += 1
            progress.step(error=bool(error))


# --- The whole fleet ------------------------------------------------------------------------


def template_migrate(*, order: list, loader: MigrationLoader) -> dict[Key, RenderedMigration]:
    """Migrate the template schema the normal way (Django's executor, one migration at a time)
    and render each migration it lacked just before applying it, so that the operations that
    introspect the database see the state they change."""
    template = settings.TENANT_BASE_SCHEMA
    connection.set_schema_to_public()
    applied = applied_read([template])[template]
    if applied is None:
        raise RuntimeError(
            f"the template schema {template!r} has no django_migrations table: "
            "run manage.py platform_setup first"
        )
    rendered: dict[Key, RenderedMigration] = {}
    for migration in pending_for(order, applied):
        item = migration_render(migration, loader=loader, schema=template)
        rendered[item.key] = item
        connection.set_schema_to_public()
        call_command(
            "migrate_schemas",
            migration.app_label,
            migration.name,
            schema_name=template,
            interactive=False,
            verbosity=0,
        )
    connection.set_schema_to_public()
    return rendered


def fleet_migrate(
    *,
    jobs: int = 4,
    schemas: list[str] | None = None,
    lock_timeout: str = "5s",
    dry_run: bool = False,
    sleep: float = 0.0,
    write: Callable[[str], None] = lambda s: None,
    tty: bool = False,
    log: Callable[[str], None] = lambda s: None,
) -> FleetResult:
    started = time.monotonic()
    result = FleetResult()
    order = migration_order()
    loader = MigrationLoader(None, ignore_no_migrations=True)

    if dry_run:
        rendered: dict[Key, RenderedMigration] = {}
    else:
        rendered = template_migrate(order=order, loader=loader)
        result.template_applied = [f"{app}.{name}" for app, name in rendered]
        if rendered:
            log(
                f"template {settings.TENANT_BASE_SCHEMA}: applied "
                + ", ".join(result.template_applied)
            )

    targets = fleet_schemas() if schemas is None else list(schemas)
    result.schemas = len(targets)
    applied = applied_read(targets)
    pooled = set(PooledSchema.objects.values_list("schema_name", flat=True))

    # Each schema's pending list; render once each migration some schema lacks.
    work: list[str] = []
    needs: dict[Key, str] = {}
    for schema in targets:
        rows = applied[schema]
        if rows is None:
            if schema in pooled:
                result.skipped += 1  # claimed or dropped meanwhile
            else:
                result.errors.append(
                    SchemaError(schema, "-", "no such schema, or no django_migrations table in it")
                )
            continue
        pending = pending_for(order, rows)
        if not pending:
            result.up_to_date += 1
            continue
        work.append(schema)
        for migration in pending:
            key = (migration.app_label, migration.name)
            needs.setdefault(key, schema)
            label = f"{key[0]}.{key[1]}"
            result.pending[label] = result.pending.get(label, 0) + 1

    if dry_run:
        result.seconds = time.monotonic() - started
        return result

    for migration in order:
        key = (migration.app_label, migration.name)
        if key in needs and key not in rendered:
            rendered[key] = migration_render(migration, loader=loader, schema=needs[key])
    connection.set_schema_to_public()

    slow = {k for k, item in rendered.items() if item.sql is None}
    fallback = [s for s in work if any(m in slow for m in _pending_keys(order, applied[s]))]
    fast = [s for s in work if s not in set(fallback)]
    if slow:
        log(
            "cannot be written as SQL: "
            + ", ".join(f"{a}.{n}" for a, n in sorted(slow))
            + f"; {len(fallback)} schema(s) go through Django's executor (slow path)"
        )

    progress = Progress(len(work), write, tty=tty, label="migrate_fleet")
    local = threading.local()
    connections_made: list[psycopg.Connection] = []
    made_lock = threading.Lock()

    def one(schema: str) -> tuple[str, list[Key], SchemaError | None]:
        conn = getattr(local, "conn", None)
        if conn is None or conn.closed:
            conn = local.conn = raw_connect()
            with made_lock:
                connections_made.append(conn)
        try:
            done = _schema_apply(
                conn,
                schema,
                order=order,
                rendered=rendered,
                lock_timeout=lock_timeout,
                sleep=sleep,
            )
        except _PlanChanged:
            return schema, [], SchemaError(schema, "-", "its migrations changed meanwhile: re-run")
        except _MigrationFailed as exc:
            return (
                schema,
                [],
                SchemaError(schema, f"{exc.key[0]}.{exc.key[1]}", _message(exc.error)),
            )
        except psycopg.Error as exc:
            if schema in pooled and isinstance(exc, psycopg.errors.UndefinedTable):
                return schema, [], None  # claimed (renamed) or dropped meanwhile
            return schema, [], SchemaError(schema, "-", _message(exc))
        return schema, done, None

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(one, schema) for schema in fast]
            for future in as_completed(futures):
                schema, done, error = future.result()
                if error:
                    result.errors.append(error)
                elif done:
                    result.migrated += 1
                progress.step(error=bool(error))
    finally:
        for conn in connections_made:
            conn.close()

    if fallback:
        result.fallback = len(fallback)
        _django_migrate(fallback, jobs, progress, result)
    progress.close()
    if result.template_applied:
        # New organizations replay the recorded script of the template's state
        # (organizations/schema_script.py): record the new state's now, after the fleet, rather
        # than on the first signup after the deploy.
        script_started = time.monotonic()
        schema_script_render()
        connection.set_schema_to_public()
        log(
            f"schema script of the new template state recorded in "
            f"{time.monotonic() - script_started:.1f} s"
        )
    result.seconds = time.monotonic() - started
    return result


def _pending_keys(order: list, applied: set[Key] | None) -> list[Key]:
    return [(m.app_label, m.name) for m in pending_for(order, applied or set())]


def _message(error: psycopg.Error) -> str:
    text = str(error).strip()
    message = text.splitlines()[0] if text else repr(error)
    sqlstate = getattr(getattr(error, "diag", None), "sqlstate", None) or ""
    return f"[{sqlstate}] {message}" if sqlstate else message
