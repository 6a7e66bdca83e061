"""Building many organizations fast for the scale benchmarks (issue 18, DESIGN 14).

Every organization is what provisioning makes (``organizations.schema_script``): its schema is
the recorded SQL of the tenant migrations replayed (every table, index, constraint, trigger,
function and ``django_migrations`` row, as the migrations leave them), plus its Organization
and Domain rows. Only the per-organization Python (owner, invitation, audit row, pool refill)
is skipped. Batches of schemas go in one round trip and one transaction each, over several
connections; a killed build leaves whole batches, and a re-run builds only what is missing.

    fleet_ensure(count=10_000, prefix="flt")   # organizations flt00000 .. flt09999

The time per schema is PostgreSQL's DDL (about 90 relations per schema), flat with the number
of schemas already there, and mostly fsyncs: PostgreSQL 15 writes a new index's pages around
shared buffers and syncs the file at once, so each of a schema's ~60 indexes costs a disk flush
(7 ms here; 0.3 ms without). A fleet is a fixture, not a measurement, so by default the builder
turns ``fsync`` off cluster-wide while it builds (``ALTER SYSTEM``, superuser; the bench
PostgreSQL) and puts it back with a ``CHECKPOINT`` before returning: what the benches then
measure runs with ``fsync`` on. ``durable=True`` builds with the server's settings. The
batches of several connections partly serialize: each schema's foreign keys to the shared
``accounts_user`` take a ShareRowExclusive lock on it until their transaction commits (as a
provisioning does, for a fraction of a second). Figures in docs/performance.md.
"""

import contextlib
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from django.db import connection, transaction
from tqdm import tqdm

BATCH = 10


def fleet_slugs(*, count: int, prefix: str) -> list[str]:
    return [f"{prefix}{index:05d}" for index in range(count)]


def _build_batch(slugs: list[str], sql: str) -> int:
    from organizations.models import Domain, Organization
    from organizations.schema_script import schema_script_batch

    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                # Seen by the other builders' fsync bookkeeping (_fsync_off).
                cursor.execute("SET LOCAL application_name = %s", [APPLICATION_NAME])
                # A bench database: losing the last batches in a crash only means rebuilding them.
                cursor.execute("SET LOCAL synchronous_commit = off")
                cursor.execute(schema_script_batch(schema_names=slugs, sql=sql))
            organizations = Organization.objects.bulk_create(
                Organization(name=slug.title(), slug=slug, schema_name=slug) for slug in slugs
            )
            Domain.objects.bulk_create(
                Domain(domain=f"{org.slug}.localhost", tenant=org, is_primary=True)
                for org in organizations
            )
        return len(slugs)
    finally:
        # Pool threads end with the build: their connections must not outlive it.
        connection.close()


APPLICATION_NAME = "cc-fleet-builder"


@contextlib.contextmanager
def _fsync_off(enabled: bool, quiet: bool):
    """fsync off for the build; back on when no other builder (another bench) still builds."""
    if not enabled:
        yield
        return
    if threading.current_thread() is threading.main_thread():
        # A plain kill (SIGTERM) runs the finally below: fsync must not stay off.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with connection.cursor() as cursor:
        cursor.execute("SET application_name = %s", [APPLICATION_NAME])
        cursor.execute("ALTER SYSTEM SET fsync = off")
        cursor.execute("SELECT pg_reload_conf()")
    if not quiet:
        print("fleet: fsync off while building (restored afterwards)", file=sys.stderr)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                [APPLICATION_NAME],
            )
            if cursor.fetchone()[0] == 0:
                cursor.execute("ALTER SYSTEM RESET fsync")
                cursor.execute("SELECT pg_reload_conf()")
                # Flushes everything written meanwhile: from here on the fleet is durable.
                cursor.execute("CHECKPOINT")
            cursor.execute("RESET application_name")


def fleet_ensure(
    *, count: int, prefix: str, jobs: int = 2, quiet: bool = False, durable: bool = False
) -> list[str]:
    """Organizations ``<prefix>00000`` .. up to ``count``; builds the missing ones.

    Returns the schema names (equal to the slugs). ``prefix`` is lowercase letters; ``jobs``
    connections build in parallel (PostgreSQL's CPU is the limit: one per core).
    """
    from organizations.models import Organization
    from organizations.schema_script import schema_script_current

    connection.set_schema_to_public()
    wanted = fleet_slugs(count=count, prefix=prefix)
    present = set(
        Organization.objects.filter(slug__startswith=prefix).values_list("slug", flat=True)
    )
    missing = [slug for slug in wanted if slug not in present]
    if not missing:
        return wanted
    sql = schema_script_current()
    batches = [missing[i : i + BATCH] for i in range(0, len(missing), BATCH)]
    started = time.monotonic()
    bar = tqdm(
        total=len(missing),
        desc=f"fleet {prefix}: building {len(missing)} of {count}",
        unit="org",
        file=sys.stderr,
        disable=quiet,
    )
    lock = threading.Lock()
    with _fsync_off(not durable and len(missing) > 20, quiet):
        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            for future in as_completed([pool.submit(_build_batch, b, sql) for b in batches]):
                done = future.result()
                with lock:
                    bar.update(done)
        finally:
            # On a kill, drop the batches not started yet instead of building them all.
            pool.shutdown(wait=True, cancel_futures=True)
    bar.close()
    if not quiet:
        elapsed = time.monotonic() - started
        print(
            f"fleet {prefix}: {len(missing)} organizations built in {elapsed:.0f} s "
            f"({elapsed / len(missing) * 1000:.0f} ms each, {jobs} connections)",
            file=sys.stderr,
        )
    return wanted


def fleet_org_create(slug: str, **fields):
    """One organization built like ``fleet_ensure``'s, with extra Organization ``fields``."""
    from organizations.models import Domain, Organization
    from organizations.schema_script import schema_create_from_script

    schema = slug.replace("-", "_")
    with transaction.atomic():
        schema_create_from_script(schema_name=schema)
        org = Organization(name=slug.title(), slug=slug, schema_name=schema, **fields)
        org.auto_create_schema = False
        org.save()
        Domain.objects.create(domain=f"{slug}.localhost", tenant=org, is_primary=True)
    return org
