"""Benchmark: one new migration applied to every schema of a fleet (DESIGN 14: < 5 min at 10,000).

    .venv/bin/python bench/migrate_bench.py --orgs 1000 10000 [--jobs 4] [--django-max 1000]

Uses its own database (``cc_migbench`` on 127.0.0.1:5432 unless BENCH_DATABASE_URL is set) and
the settings ``bench.settings_migrate``: the project plus the bench-only tenant app
``bench/migbench`` (0001 creates a table, 0002 adds a nullable column and an index). For each
size, ascending:

1. the template is brought to the code's state and the fleet grows to the size with
   bench/fleet.py's ``fleet_ensure`` (each schema the recorded script of that state, as
   provisioning makes it: every migration, 0002 included);
2. ``migbench.0002`` is taken back by SQL in the template and every schema (what reversing it
   does: index, column and row dropped); anything else the fleet lacks is applied first,
   untimed, so the timed run applies 0002 alone;
3. ``manage.py migrate_fleet --jobs N`` is timed (wall clock of the whole command: Django start,
   the template, the plan, every schema), checked (every schema has the column, the index and
   one row for 0002), then timed again with nothing left to do;
4. up to ``--django-max`` organizations, the fleet is taken back again and django-tenants'
   ``migrate_schemas --tenant --executor=multiprocessing`` (as many processes as ``--jobs``) is
   timed the same way, for comparison.

At the end the database size is printed; the database is dropped if it is over 10 GB (unless
``--keep``).
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_migbench")
os.environ["DATABASE_URL"] = DB_URL
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_migrate"
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6380/15")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["TENANT_SCHEMA_POOL_SIZE"] = "0"

from common import ensure_database, psycopg_url  # noqa: E402

NEW = ("migbench", "0002_external_ref")
TABLE = "migbench_benchnote"
COLUMN = "external_ref"
INDEX = "migbench_note_ext_ref_idx"
PREFIX = "mig"
DROP_OVER_BYTES = 10 * 1024**3


def manage(*args: str, capture: bool = False, env: dict | None = None):
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({completed.returncode})")
    return elapsed, (completed.stdout or "")


def connect():
    import psycopg

    return psycopg.connect(psycopg_url(DB_URL), autocommit=True)


def tenant_schemas(conn) -> list[str]:
    rows = conn.execute(
        "SELECT schema_name FROM public.organizations_organization "
        "WHERE schema_name <> 'public' ORDER BY schema_name"
    ).fetchall()
    return [row[0] for row in rows]


def setup() -> None:
    """The database, its public schema and template current (migbench included)."""
    ensure_database(DB_URL)
    with connect() as conn:
        has_template = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_template'"
        ).fetchone()
    if not has_template:
        print("platform_setup on an empty database", file=sys.stderr)
        manage("platform_setup", "-v", "0")
    else:
        manage("migrate_schemas", "--shared", "--noinput", "-v", "0")
    template_current()


def template_current() -> None:
    """The template at the code's state (fleet_ensure replays the script of that state)."""
    manage("migrate_schemas", "--schema", "tenant_template", "--noinput", "-v", "0")


def _take_back_some(schemas: list[str]) -> int:
    undone = 0
    with connect() as conn:
        for schema in schemas:
            q = f'"{schema}"'
            with conn.transaction():
                had = conn.execute(
                    f"DELETE FROM {q}.django_migrations WHERE app = %s AND name = %s",
                    list(NEW),
                ).rowcount
                conn.execute(
                    f"DROP INDEX IF EXISTS {q}.{INDEX}; "
                    f"ALTER TABLE {q}.{TABLE} DROP COLUMN IF EXISTS {COLUMN}"
                )
            undone += int(bool(had))
    return undone


def take_back(schemas: list[str], jobs: int = 4) -> int:
    """Undo migbench 0002 in ``schemas`` (what reversing it does, by SQL, over ``jobs``
    connections); returns how many had it."""
    from concurrent.futures import ThreadPoolExecutor

    chunks = [schemas[i :: max(jobs, 1)] for i in range(max(jobs, 1))]
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        return sum(pool.map(_take_back_some, chunks))


def fleet_take_back() -> None:
    with connect() as conn:
        schemas = tenant_schemas(conn)
    started = time.perf_counter()
    undone = take_back(["tenant_template", *schemas])
    print(
        f"took migbench 0002 back in {undone} schema(s) ({time.perf_counter() - started:.0f} s)",
        file=sys.stderr,
    )


def only_new_missing() -> None:
    """Apply (untimed) whatever else the fleet lacks, e.g. a project migration added since the
    fleet was built, so that the timed run applies 0002 alone."""
    _, out = manage("migrate_fleet", "--dry-run", capture=True)
    new = ".".join(NEW)
    others = [ln for ln in out.splitlines() if "missing in" in ln and not ln.startswith(new)]
    if others:
        print("fleet behind the project, catching up first: " + "; ".join(others), file=sys.stderr)
        manage("migrate_fleet")
        fleet_take_back()


def grow(count: int) -> None:
    import django

    django.setup()
    import fleet

    # Built as provisioning builds them: the recorded script of the template's (current) state.
    fleet.fleet_ensure(count=count, prefix=PREFIX)


def check(count_expected: int) -> str:
    """Every tenant schema has the column, the index and exactly one row for 0002."""
    with connect() as conn:
        schemas = tenant_schemas(conn)
        columns = conn.execute(
            "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = %s "
            "AND a.attname = %s AND NOT a.attisdropped AND n.nspname = ANY(%s)",
            [TABLE, COLUMN, schemas],
        ).fetchone()[0]
        indexes = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND c.relkind = 'i' AND n.nspname = ANY(%s)",
            [INDEX, schemas],
        ).fetchone()[0]
        rows: dict[int, int] = {}
        for start in range(0, len(schemas), 500):
            chunk = schemas[start : start + 500]
            query = " UNION ALL ".join(
                f'SELECT (SELECT count(*) FROM "{s}".django_migrations '
                f"WHERE app = '{NEW[0]}' AND name = '{NEW[1]}')"
                for s in chunk
            )
            for (n,) in conn.execute(query):
                rows[n] = rows.get(n, 0) + 1
    ok = len(schemas) >= count_expected and columns == indexes == rows.get(1, 0) == len(schemas)
    summary = (
        f"{len(schemas)} schemas: column in {columns}, index in {indexes}, "
        f"rows per schema {dict(sorted(rows.items()))}"
    )
    if not ok:
        raise SystemExit("CHECK FAILED: " + summary)
    return summary


def server_conditions() -> str:
    """fsync (another bench's fleet builder may turn it off cluster-wide) and the load."""
    with connect() as conn:
        fsync = conn.execute("SHOW fsync").fetchone()[0]
        commit = conn.execute("SHOW synchronous_commit").fetchone()[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"fsync {fsync}, synchronous_commit {commit}, load average {load}"


def database_size() -> int:
    with connect() as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument(
        "--django-max",
        type=int,
        default=1000,
        help="time django-tenants' multiprocessing executor up to this fleet size",
    )
    parser.add_argument("--keep", action="store_true", help="never drop the bench database")
    args = parser.parse_args()

    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, jobs {args.jobs}")
    setup()
    results = []
    for count in sorted(args.orgs):
        template_current()
        started = time.perf_counter()
        grow(count)
        print(f"fleet of {count}: built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        fleet_take_back()
        only_new_missing()

        conditions = server_conditions()
        seconds, out = manage("migrate_fleet", "--jobs", str(args.jobs), capture=True)
        conditions_after = server_conditions()
        print(f"before: {conditions}; after: {conditions_after}")
        print(out.strip())
        checked = check(count)
        noop, _ = manage("migrate_fleet", "--jobs", str(args.jobs), capture=True)
        row = {"orgs": count, "migrate_fleet": seconds, "noop": noop, "check": checked}
        print(
            f"{count} orgs: migrate_fleet {seconds:.1f} s ({count / seconds:.0f} schemas/s), "
            f"re-run with nothing to do {noop:.1f} s; {checked}"
        )
        if count <= args.django_max:
            fleet_take_back()
            django_s, _ = manage(
                "migrate_schemas",
                "--tenant",
                "--executor=multiprocessing",
                "--noinput",
                "-v",
                "0",
                env={"BENCH_MIGRATE_PROCESSES": str(args.jobs)},
            )
            row["django"] = django_s
            print(f"after: {server_conditions()}")
            print(
                f"{count} orgs: migrate_schemas --executor=multiprocessing ({args.jobs} "
                f"processes) {django_s:.1f} s ({count / django_s:.1f} schemas/s); "
                f"{check(count)}"
            )
        results.append(row)
        size = database_size()
        print(f"database size: {size / 1024**3:.2f} GB")

    print("\n| organizations | migrate_fleet | nothing to do | migrate_schemas multiprocessing |")
    print("|---|---|---|---|")
    for row in results:
        django_s = f"{row['django']:.1f} s" if "django" in row else "-"
        print(
            f"| {row['orgs']:,} | {row['migrate_fleet']:.1f} s | {row['noop']:.1f} s | {django_s} |"
        )
    size = database_size()
    if size > DROP_OVER_BYTES and not args.keep:
        import psycopg

        base, name = psycopg_url(DB_URL).rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        print(f"dropped {name} ({size / 1024**3:.1f} GB > 10 GB)")


if __name__ == "__main__":
    main()
