"""Benchmark: a new organization is ready (< 1 s target) with 1,000 organizations present.

    .venv/bin/python bench/provision_bench.py [--present 1000] [--samples 10]

Uses its own database (``cc_provbench`` on 127.0.0.1:5432 unless BENCH_DATABASE_URL is set),
fills it up to ``--present`` organizations once (cloned schemas, with a progress bar; re-runs
reuse them), then times ``organization_create`` (schema clone, domain, owner) followed by the
owner's first authenticated API call, which is what "ready" means to a customer.
"""

import argparse
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
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def ensure_database() -> None:
    import psycopg

    base, name = DB_URL.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "platform_setup", "-v", "0"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def fill(present: int) -> None:
    from django.db import connection
    from django_tenants.clone import CloneSchema
    from tqdm import tqdm

    from organizations.models import Domain, Organization

    existing = Organization.objects.exclude(schema_name="public").count()
    missing = max(present - existing, 0)
    if not missing:
        return
    clone = CloneSchema()
    clone._create_clone_schema_function()
    with tqdm(total=missing, desc="filling organizations", unit="org") as bar:
        for i in range(existing, existing + missing):
            slug = f"fill{i:05d}"
            with connection.cursor() as cursor:
                cursor.execute("SELECT clone_schema('tenant_template', %s, 'DATA')", [slug])
            org = Organization(name=slug, slug=slug, schema_name=slug)
            org.auto_create_schema = False
            org.save()
            Domain.objects.create(domain=f"{slug}.localhost", tenant=org, is_primary=True)
            bar.update()


def measure(samples: int) -> list[tuple[float, float]]:
    from django.db import connection
    from rest_framework.test import APIClient

    from organizations.models import Organization
    from organizations.services import organization_create

    results = []
    for i in range(samples):
        slug = f"new{i:03d}-{os.getpid()}"
        started = time.perf_counter()
        organization_create(
            name=slug,
            slug=slug,
            domain=f"{slug}.localhost",
            owner_email=f"owner@{slug}.test",
            owner_password="bench-pass-123",
        )
        created = time.perf_counter() - started
        client = APIClient(HTTP_HOST=f"{slug}.localhost")
        token = client.post(
            "/api/v1/auth/token/",
            {"email": f"owner@{slug}.test", "password": "bench-pass-123"},
            format="json",
        ).json()["access"]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert client.get("/api/v1/auth/me/").status_code == 200
        ready = time.perf_counter() - started
        results.append((created, ready))
        connection.set_schema_to_public()
        Organization.objects.get(slug=slug).delete(force_drop=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--present", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    ensure_database()
    import django

    django.setup()
    from organizations.models import Organization

    fill(args.present)
    present = Organization.objects.exclude(schema_name="public").count()
    results = measure(args.samples)
    created = sorted(r[0] for r in results)
    ready = sorted(r[1] for r in results)
    print(f"organizations present: {present}")
    print(
        f"create (schema+domain+owner): p50 {statistics.median(created) * 1000:.0f} ms, "
        f"max {created[-1] * 1000:.0f} ms"
    )
    print(
        f"ready (create + login + first API call): p50 {statistics.median(ready) * 1000:.0f} ms,"
        f" max {ready[-1] * 1000:.0f} ms  (target < 1000 ms)"
    )


if __name__ == "__main__":
    main()
