"""``manage.py migrate_fleet``: every tenant schema gets what it lacks, once, resumably.

Real migrations are taken back in a few committed organizations with django-tenants' own
``migrate_schemas --schema X displays 0001_initial`` (displays 0002 alters a foreign key, 0003
adds a column), then the command must bring each schema back to the template's state.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from organizations.fleet_migrations import APPLICATION_NAME
from organizations.models import Organization
from testing.orgs import make_org

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = settings.TENANT_BASE_SCHEMA
BACK_TO = ("displays", "0001_initial")


def _migrations_back(schema: str) -> None:
    call_command("migrate_schemas", *BACK_TO, schema_name=schema, interactive=False, verbosity=0)
    connection.set_schema_to_public()
    assert not _has_mode_column(schema)


def _has_mode_column(schema: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = 'displays_screen' AND column_name = 'mode'",
            [schema],
        )
        return cursor.fetchone() is not None


def _rows(schema: str) -> list[tuple[str, str]]:
    """Every django_migrations row of ``schema`` (duplicates kept)."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations ORDER BY app, name')
        return [tuple(row) for row in cursor.fetchall()]


def _structure(schema: str) -> dict:
    """Columns, indexes and constraints of the displays tables, schema name left out."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name LIKE 'displays%%' ORDER BY 1, 2",
            [schema],
        )
        columns = cursor.fetchall()
        cursor.execute(
            "SELECT tablename, replace(indexdef, %s, 'S') FROM pg_indexes "
            "WHERE schemaname = %s AND tablename LIKE 'displays%%' ORDER BY 1, 2",
            [f'"{schema}".' if not schema.isidentifier() else f"{schema}.", schema],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conrelid::regclass::text, contype, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE n.nspname = %s AND conrelid::regclass::text LIKE '%%displays%%' "
            "ORDER BY 1, 2, 3",
            [schema],
        )
        constraints = [(t.split(".")[-1], k, d) for t, k, d in cursor.fetchall()]
    return {"columns": columns, "indexes": indexes, "constraints": constraints}


def _assert_current(schema: str) -> None:
    rows = _rows(schema)
    assert len(rows) == len(set(rows)), f"{schema}: a migration recorded twice"
    assert set(rows) == set(_rows(TEMPLATE)), schema
    assert _has_mode_column(schema)
    assert _structure(schema) == _structure(TEMPLATE)


@pytest.fixture
def three_orgs(committed_org):
    """The committed organization and two more, dropped after the test."""
    extra = [make_org(f"mf{i}-{os.getpid()}-{time.monotonic_ns() % 10**6}") for i in range(2)]
    yield [committed_org, *extra]
    connection.set_schema_to_public()
    for org in extra:
        Organization.objects.get(pk=org.organization.pk).delete(force_drop=True)


def test_each_schema_gets_what_it_lacks_once(three_orgs):
    first, second, third = (org.schema for org in three_orgs)
    _migrations_back(first)
    _migrations_back(second)

    call_command("migrate_fleet", "--dry-run", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert not _has_mode_column(first)

    call_command("migrate_fleet", "--jobs", "2", stdout=open(os.devnull, "w"))  # noqa: SIM115

    for schema in (first, second, third):
        _assert_current(schema)
    # A second run has nothing to do and records nothing twice.
    call_command("migrate_fleet", stdout=open(os.devnull, "w"))  # noqa: SIM115
    for schema in (first, second, third):
        _assert_current(schema)


def test_the_template_is_migrated_first_the_normal_way(committed_org):
    schema = committed_org.schema
    _migrations_back(TEMPLATE)
    try:
        _migrations_back(schema)
        call_command("migrate_fleet", stdout=open(os.devnull, "w"))  # noqa: SIM115
        assert _has_mode_column(TEMPLATE)
        _assert_current(schema)
    finally:
        call_command("migrate_schemas", schema_name=TEMPLATE, interactive=False, verbosity=0)
        connection.set_schema_to_public()


def test_a_failing_schema_is_reported_and_the_others_are_migrated(three_orgs, capsys):
    good, bad, _ = (org.schema for org in three_orgs)
    _migrations_back(good)
    _migrations_back(bad)
    with connection.cursor() as cursor:  # a conflicting object made by hand
        cursor.execute(f'ALTER TABLE "{bad}".displays_screen ADD COLUMN mode integer')
    try:
        with pytest.raises(CommandError, match="1 schema"):
            call_command("migrate_fleet", stdout=open(os.devnull, "w"))  # noqa: SIM115
        err = capsys.readouterr().err
        assert f"FAILED {bad} displays.0002_alter_screen_created_by" in err or (
            f"FAILED {bad} displays.0003_screen_mode" in err
        )
        assert "already exists" in err
        _assert_current(good)
        # The failed schema was left as it was: its transaction rolled back whole.
        assert ("displays", "0002_alter_screen_created_by") not in _rows(bad)
        assert ("displays", "0003_screen_mode") not in _rows(bad)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE "{bad}".displays_screen DROP COLUMN IF EXISTS mode')
    call_command("migrate_fleet", "--schema", bad, stdout=open(os.devnull, "w"))  # noqa: SIM115
    _assert_current(bad)


def _command_env() -> dict:
    db = connection.settings_dict
    host = db.get("HOST") or ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{host}{port}/{db['NAME']}",
    }


def _orphans_gone(timeout: float = 30) -> None:
    """Wait until the killed command's server sessions have rolled back and ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND datname = current_database()",
                [APPLICATION_NAME],
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.2)
    raise AssertionError("the killed command's sessions are still there")


def test_killed_midway_each_schema_is_done_or_untouched_and_a_rerun_finishes(three_orgs):
    schemas = [org.schema for org in three_orgs]
    for schema in schemas:
        _migrations_back(schema)
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "migrate_fleet",
            "--jobs",
            "1",
            "--sleep-per-schema",
            "1.5",
        ],
        cwd=ROOT,
        env=_command_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("migrate_fleet: ") and not line.startswith("migrate_fleet: 0/"):
                break
        assert any(
            ln.startswith("migrate_fleet: ") and not ln.startswith("migrate_fleet: 0/")
            for ln in seen
        ), "".join(seen)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
    _orphans_gone()

    done = []
    for schema in schemas:
        rows = set(_rows(schema))
        recorded = ("displays", "0003_screen_mode") in rows
        # Migrated (column and rows) or untouched (neither): never half.
        assert recorded == _has_mode_column(schema), schema
        assert recorded == (("displays", "0002_alter_screen_created_by") in rows), schema
        done.append(recorded)
    assert any(done), "the progress said one schema was done"
    assert not all(done), "killed while schemas were still to do"

    call_command("migrate_fleet", stdout=open(os.devnull, "w"))  # noqa: SIM115
    for schema in schemas:
        _assert_current(schema)


def test_what_sql_cannot_express_is_recognized():
    """RunPython in a tenant app cannot be replayed; in a shared app it is a no-op in tenants."""
    from django.db import migrations

    from organizations.fleet_migrations import _renderable

    def noop(apps, schema_editor):
        pass

    tenant = migrations.Migration("0099_data", "displays")
    tenant.operations = [migrations.RunPython(noop)]
    shared = migrations.Migration("0099_data", "organizations")
    shared.operations = [migrations.RunPython(noop)]
    nested = migrations.Migration("0099_data", "tasks")
    nested.operations = [
        migrations.SeparateDatabaseAndState(database_operations=[migrations.RunPython(noop)])
    ]
    schema_only = migrations.Migration("0099_sql", "displays")
    schema_only.operations = [migrations.RunSQL("SELECT 1", migrations.RunSQL.noop)]
    connection.set_schema(TEMPLATE)
    try:
        assert not _renderable(tenant)
        assert _renderable(shared)
        assert not _renderable(nested)
        assert _renderable(schema_only)
    finally:
        connection.set_schema_to_public()


def test_a_migration_sql_cannot_express_goes_through_djangos_executor(
    three_orgs, monkeypatch, capsys
):
    """The schemas lacking such a migration are migrated by django-tenants' per-schema migrate
    (in processes); the others by SQL, in the same run."""
    from organizations import fleet_migrations

    first, second, third = (org.schema for org in three_orgs)
    _migrations_back(first)
    _migrations_back(second)
    # displays 0003 stands for a migration with RunPython: the routing is what is under test.
    real = fleet_migrations._renderable
    monkeypatch.setattr(
        fleet_migrations,
        "_renderable",
        lambda migration: migration.name != "0003_screen_mode" and real(migration),
    )
    call_command("migrate_fleet", "--jobs", "2")
    out = capsys.readouterr().out
    assert "cannot be written as SQL: displays.0003_screen_mode" in out
    assert "through Django's executor" in out
    for schema in (first, second, third):
        _assert_current(schema)
