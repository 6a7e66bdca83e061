"""Benchmark: a new organization is ready (< 1 s p99) with 1,000 and 10,000 present, pool off.

    .venv/bin/python bench/provision_bench.py [--present 1000 10000] [--samples 20]

Uses its own database (``cc_provbench`` on 127.0.0.1:5432 unless BENCH_DATABASE_URL is set),
fills it up to each ``--present`` count (bench/fleet.py, with a progress bar; re-runs reuse
them), then times, with the warm pool empty and then full, ``organization_create`` (schema,
domain, owner) followed by the owner's first authenticated API call, which is what "ready"
means to a customer.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_provbench")
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The bench fills the pool itself (no worker here to refill it after each claim).
os.environ["TENANT_SCHEMA_POOL_SIZE"] = "0"


def ensure_database() -> None:
    """Create the bench database (and platform_setup it) unless it exists and is current.

    Re-runs reuse the 1,000 organizations; when the code has new tenant migrations the database
    is dropped and rebuilt rather than migrating 1,000 schemas.
    """
    import psycopg

    base, name = DB_URL.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if exists and _is_current():
        return
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "platform_setup", "-v", "0"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _is_current() -> bool:
    """The bench database's template has every migration this code base defines."""
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--schema", "tenant_template", "--plan"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    public = subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--shared", "--plan"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return (
        result.returncode == 0
        and public.returncode == 0
        and "No planned migration operations" in result.stdout
        and "No planned migration operations" in public.stdout
    )


def fill(present: int) -> None:
    """Add organizations up to ``present`` (built as provisioning builds them: bench/fleet.py)."""
    from fleet import fleet_ensure

    fleet_ensure(count=present, prefix="fill")


def measure(samples: int) -> list[tuple[float, float]]:
    """(create, ready) seconds per sample. The owner is invited without a password (as the
    admin flow does) and the first call uses a freshly minted JWT: password hashing (PBKDF2,
    deliberately ~0.3 s) is the login's cost, not provisioning's, and is timed apart."""
    from django.db import connection
    from rest_framework.test import APIClient

    from accounts.seeding import member_seed
    from accounts.tokens import tokens_for_membership
    from organizations.models import Organization
    from organizations.services import organization_create

    results = []
    for i in range(samples):
        slug = f"new{i:03d}-{os.getpid()}"
        started = time.perf_counter()
        org = organization_create(
            name=slug, slug=slug, domain=f"{slug}.localhost", owner_email=f"owner@{slug}.test"
        )
        created = time.perf_counter() - started
        # The owner was invited (no membership until accepted): accept stands in as a seed,
        # untimed (its password hashing is the login's cost).
        owner = member_seed(
            organization=org, email=f"owner@{slug}.test", role="owner", password="bench-pass-123"
        )
        client = APIClient(HTTP_HOST=f"{slug}.localhost")
        token = tokens_for_membership(user=owner, organization=org)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.access_token}")
        called = time.perf_counter()
        assert client.get("/api/v1/organization/").status_code == 200
        ready = created + time.perf_counter() - called
        results.append((created, ready))
        connection.set_schema_to_public()
        Organization.objects.get(slug=slug).delete(force_drop=True)
    return results


def _ms(values: list[float], q: int) -> str:
    """The q-th percentile in milliseconds (inclusive method: with n samples, p99 ~ the max)."""
    if len(values) == 1:
        return f"{values[0] * 1000:.0f}"
    return f"{statistics.quantiles(values, n=100, method='inclusive')[q - 1] * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--present", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--samples", type=int, default=20, help="pool-off samples per size")
    parser.add_argument("--pool-samples", type=int, default=5)
    args = parser.parse_args()
    ensure_database()
    import django

    django.setup()
    from organizations.models import Organization
    from organizations.schema_pool import schema_pool_fill

    report = []
    measure(1)  # the process's first request loads URLconfs and serializers: not a sample
    for present in sorted(args.present):
        fill(present)
        count = Organization.objects.exclude(schema_name="public").count()
        # Pool off (TENANT_SCHEMA_POOL_SIZE=0 and the pool empty): the script replay, every time.
        schema_pool_fill(size=0)
        off = measure(args.samples)
        # Warm pool: what a normal provisioning is (a worker tops it up between customers).
        schema_pool_fill(size=args.pool_samples)
        warm = measure(args.pool_samples)
        row = {"present": count}
        for label, results in (("pool off", off), ("warm pool", warm)):
            created = [r[0] for r in results]
            ready = [r[1] for r in results]
            print(
                f"{count} organizations, {label}, {len(results)} samples: create p50 "
                f"{_ms(created, 50)} ms p99 {_ms(created, 99)} ms; ready p50 {_ms(ready, 50)} ms "
                f"p99 {_ms(ready, 99)} ms max {max(ready) * 1000:.0f} ms (target p99 < 1000 ms)"
            )
            row[label] = {"create": created, "ready": ready}
        report.append(row)
    out = ROOT / "bench" / "results" / "provision_bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
