"""Benchmark: a PostgreSQL backend's private memory as one persistent connection visits many
tenant schemas, and the same visits with the connection recycled (DESIGN 14, issue 18 item 4).

    .venv/bin/python bench/backend_memory.py [--schemas 100 500] [--recycle 100]

The last run goes through the application's own mechanism: Django's connection with the
project's backend (core.db_backend) and ``DATABASE_MAX_SCHEMAS_PER_CONNECTION`` set to
``--recycle``, each visit a ``set_schema`` and the five reads through Django cursors between two
``close_old_connections()`` calls (what request_started and request_finished run), with no
connection age limit: only the schema count recycles the connection.

PostgreSQL caches catalog entries (relations, indexes, plans' metadata) per backend, for every
table a session has touched, and never shrinks those caches: a persistent connection that serves
every organization in turn grows with the number of schemas it visits. Each visit here does what
a request does: ``SET search_path`` to the schema, then reads of five tables (the catalog, a task
list with its items, the event log). Memory is the backend's private RSS (``Private_Clean +
Private_Dirty`` of ``/proc/<pid>/smaps_rollup``: the PostgreSQL server must run on this machine,
and this process must be allowed to read its backends' /proc entries).

Uses its own database (``cc_membench`` on 127.0.0.1:5432 unless BENCH_DATABASE_URL is set):
``platform_setup`` once, then organizations ``mem00000``... built by bench/fleet.py as
provisioning builds them (``--prefix fill`` with ``BENCH_DATABASE_URL`` on ``cc_provbench``
visits the 10,000 of bench/provision_bench.py instead of building more).
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_membench")
PSYCOPG_URL = DB_URL.replace("postgres://", "postgresql://", 1)

# What a request of each kind reads (catalog, task list with items, event replay).
VISIT = [
    "SELECT id, name FROM agents_agentcategory ORDER BY sort_order, id LIMIT 50",
    "SELECT a.id, a.name, a.unit_price FROM agents_agent a"
    " JOIN agents_agentcategory c ON c.id = a.category_id ORDER BY c.sort_order, a.id LIMIT 50",
    "SELECT id, number, status FROM tasks_task ORDER BY created_at DESC LIMIT 25",
    "SELECT id, task_id, agent_name FROM tasks_taskitem WHERE task_id = ANY(%s)",
    "SELECT seq, type FROM {events} WHERE seq > %s ORDER BY seq LIMIT 100",
]
# TaskEvent's table: events_taskevent once the events app owns it, tasks_taskevent before.
EVENT_TABLES = ("events_taskevent", "tasks_taskevent")


def ensure_database() -> None:
    base, name = PSYCOPG_URL.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"),
        "TENANT_SCHEMA_POOL_SIZE": "0",
        "LOG_LEVEL": "WARNING",
    }
    print("platform_setup on a new database ...", flush=True)
    subprocess.run(
        [sys.executable, "manage.py", "platform_setup", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def build(count: int, prefix: str) -> list[str]:
    """Organizations ``<prefix>00000`` .. up to ``count``, as provisioning makes them
    (bench/fleet.py; existing ones reused, so another bench's fleet can be visited)."""
    django_setup()
    from bench.fleet import fleet_ensure

    return fleet_ensure(count=count, prefix=prefix)


def private_mb(pid: int) -> float:
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1])
    return total / 1024


def event_table(conn) -> str:
    for name in EVENT_TABLES:
        if conn.execute("SELECT to_regclass(%s)", [f"tenant_template.{name}"]).fetchone()[0]:
            return name
    raise RuntimeError("no TaskEvent table in tenant_template")


def visit(conn, schema: str, events: str) -> None:
    conn.execute(f'SET search_path = "{schema}", public')
    for template in VISIT:
        sql = template.format(events=events)
        params = [[1, 2, 3]] if "ANY" in sql else [0] if "%s" in sql else None
        conn.execute(sql, params).fetchall()


def visitor() -> psycopg.Connection:
    # Nothing prepared (as Django's cursors, which bind on the client): psycopg's automatic
    # prepared statements would not survive DISCARD ALL, and would add to the backend's memory.
    return psycopg.connect(PSYCOPG_URL, autocommit=True, prepare_threshold=None)


def run(
    schemas: list[str], checkpoints: list[int], recycle: int | None, discard: bool = False
) -> list[tuple]:
    """[(schemas visited, private MB now, peak private MB so far), ...] at each checkpoint.

    ``recycle``: a new connection (a new backend) every that many schemas; with ``discard``, the
    same connection runs ``DISCARD ALL`` instead (what PgBouncer's session mode does between
    clients on a server session it keeps)."""
    rows, peak = [], 0.0
    conn = visitor()
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    events = event_table(conn)
    baseline = private_mb(pid)
    rows.append((0, baseline, baseline))
    try:
        for index, schema in enumerate(schemas, 1):
            if recycle and index > 1 and (index - 1) % recycle == 0 and discard:
                conn.execute("DISCARD ALL")
            elif recycle and index > 1 and (index - 1) % recycle == 0:
                conn.close()
                conn = visitor()
                pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            visit(conn, schema, events)
            now = private_mb(pid)
            peak = max(peak, now)
            if index in checkpoints:
                rows.append((index, now, peak))
    finally:
        conn.close()
    return rows


def django_setup() -> None:
    """The project's settings on this database (``DJANGO_SETTINGS_MODULE``, default
    ``config.settings.local``), in this process."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DATABASE_URL"] = DB_URL
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def run_django(schemas: list[str], checkpoints: list[int], limit: int) -> list[tuple]:
    """[(schemas visited, private MB now, peak private MB so far, connections opened), ...]:
    the visits on Django's connection, the schema count (``limit``) the only recycling."""
    from django.conf import settings
    from django.db import close_old_connections, connection

    settings.DATABASE_MAX_SCHEMAS_PER_CONNECTION = limit
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = None  # persistent: no recycling by age
    connection.set_schema_to_public()
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    opened, peak = 1, 0.0
    events = event_table(connection.connection)
    baseline = private_mb(pid)
    rows = [(0, baseline, baseline, opened)]
    for index, schema in enumerate(schemas, 1):
        close_old_connections()  # request_started
        if connection.connection is None:
            opened += 1
        connection.set_schema(schema)
        with connection.cursor() as cursor:
            for template in VISIT:
                sql = template.format(events=events)
                params = [[1, 2, 3]] if "ANY" in sql else [0] if "%s" in sql else None
                cursor.execute(sql, params)
                cursor.fetchall()
        now = private_mb(connection.connection.info.backend_pid)
        peak = max(peak, now)
        close_old_connections()  # request_finished: past the limit the connection goes here
        if index in checkpoints:
            rows.append((index, now, peak, opened))
    connection.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schemas", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--recycle", type=int, default=100, help="schemas per connection")
    parser.add_argument(
        "--prefix",
        default="mem",
        help="the fleet's organizations (bench/fleet.py): 'fill' visits provision_bench's",
    )
    args = parser.parse_args()
    ensure_database()
    schemas = build(max(args.schemas), args.prefix)
    checkpoints = sorted(set(args.schemas))
    print(f"database {DB_URL.rsplit('@', 1)[-1]}, {len(VISIT)} reads per schema visit")
    runs = (
        ("persistent", None, False),
        (f"DISCARD ALL every {args.recycle} (a pgbouncer server session)", args.recycle, True),
        (f"new connection every {args.recycle}", args.recycle, False),
    )
    for label, recycle, discard in runs:
        print(f"\n{label}: schemas visited | private MB now | peak private MB")
        for visited, now, peak in run(schemas, checkpoints, recycle, discard):
            print(f"  {visited:>6} | {now:8.1f} | {peak:8.1f}")
    django_setup()
    for limit in (0, args.recycle):
        print(
            f"\nDjango backend, DATABASE_MAX_SCHEMAS_PER_CONNECTION={limit}: schemas visited |"
            " private MB now | peak private MB | connections opened"
        )
        for visited, now, peak, opened in run_django(schemas, checkpoints, limit):
            print(f"  {visited:>6} | {now:8.1f} | {peak:8.1f} | {opened:>4}")


if __name__ == "__main__":
    main()
