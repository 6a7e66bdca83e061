"""Benchmark: the export job's memory and time on large organizations (DESIGN 12, docs/export.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_exbench \
    REDIS_URL=redis://127.0.0.1:6380/42 \
    .venv/bin/python bench/export_bench.py [--tasks 10000 100000]

For each size, an organization ``exb<tasks>`` (cloned from the template once; re-runs reuse it)
is filled with bulk SQL (``generate_series``, a few seconds for 100,000 tasks): 40 agents in 5
categories, ``tasks`` tasks of 3 items each, 2 events per task (created, status changed), one
stock movement per task, a note per 10 tasks, an audit row per 20, 30 daily reports with a
200 KB workbook each in storage. Then the export job (``exports.services.export_run``) runs in a
fresh Python process per size, which reports its peak RSS (``ru_maxrss``) before and after the
export, the wall time, the rows and the archive's size. Bounded memory means the peak does not
grow with the row count: compare the sizes.

The database is created and set up (``manage.py platform_setup``) when missing.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database  # noqa: E402

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_exbench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6380/42")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("MEDIA_ROOT", "/tmp/cc-exbench-media")

CATEGORIES, AGENTS, REPORTS, REPORT_BYTES = 5, 40, 30, 200 * 1024

# One statement per table, every row built by PostgreSQL (no Python per row). Tasks are spread
# over the last 60 days; %(n)s is the task count. Ids are explicit (a fresh organization), the
# identity sequences are moved past them afterwards.
FILL_SQL = [
    """
    INSERT INTO agents_agentcategory (id, name, sort_order, created_at, updated_at)
    SELECT c, 'Category ' || c, c, now(), now() FROM generate_series(1, %(categories)s) c
    """,
    """
    INSERT INTO agents_agent (id, name, category_id, unit_price, is_available, stock,
                              low_stock_threshold, created_at, updated_at)
    SELECT a, '菜品 ' || a, 1 + a %% %(categories)s, 10 + a %% 7 + 0.5, true, NULL, 0, now(), now()
    FROM generate_series(1, %(agents)s) a
    """,
    """
    INSERT INTO tasks_task (id, number, business_date, sequence, status, priority, workspace,
                            customer_name, notes, subtotal, discount, total, pinned, created_at,
                            updated_at, accepted_at, ready_at, completed_at, cancel_reason)
    SELECT t, 'B' || lpad(t::text, 10, '0'), (now() - (t %% 60) * interval '1 day')::date,
           t, 'completed', 'normal', 'T' || lpad((t %% 40)::text, 2, '0'), 'Guest ' || t,
           '', 42.00, 0, 42.00, false, now() - (t %% 60) * interval '1 day', now(),
           now() - (t %% 60) * interval '1 day' + interval '1 minute',
           now() - (t %% 60) * interval '1 day' + interval '12 minutes',
           now() - (t %% 60) * interval '1 day' + interval '15 minutes', ''
    FROM generate_series(1, %(n)s) t
    """,
    """
    INSERT INTO tasks_taskitem (id, task_id, agent_id, agent_name, category_id_snapshot,
                                category_name, unit_price, quantity, line_total, notes, done)
    SELECT i, 1 + (i - 1) / 3, 1 + i %% %(agents)s, '菜品 ' || (1 + i %% %(agents)s),
           1 + (1 + i %% %(agents)s) %% %(categories)s, 'Category', 14.00, 1, 14.00,
           CASE WHEN i %% 9 = 0 THEN 'no onions' ELSE '' END, true
    FROM generate_series(1, 3 * %(n)s) i
    """,
    """
    INSERT INTO tasks_taskevent (id, seq, type, task_id, category_ids, payload, actor, at)
    SELECT e, e, CASE WHEN e %% 2 = 1 THEN 'task.created' ELSE 'task.status_changed' END,
           1 + (e - 1) / 2, ARRAY[1 + e %% %(categories)s]::bigint[],
           jsonb_build_object('id', 1 + (e - 1) / 2, 'number', 'B' || lpad(((e + 1) / 2)::text,
               10, '0'), 'status', 'completed', 'workspace', 'T01', 'total', '42.00',
               'items', jsonb_build_array(jsonb_build_object('agent_id', 1, 'quantity', 1,
               'agent_name', '菜品 1', 'done', true))),
           jsonb_build_object('type', 'user', 'id', 1, 'name', 'Bench'),
           now() - ((e / 2) %% 60) * interval '1 day'
    FROM generate_series(1, 2 * %(n)s) e
    """,
    """
    INSERT INTO agents_stockmovement (id, agent_id, delta, reason, task_id, stock_after, note, at)
    SELECT m, 1 + m %% %(agents)s, -1, 'task', m, 100, '', now() - (m %% 60) * interval '1 day'
    FROM generate_series(1, %(n)s) m
    """,
    """
    INSERT INTO tasks_tasknote (id, task_id, text, score, created_at)
    SELECT k, k * 10, 'Feedback ' || k, 1 + k %% 5, now() FROM generate_series(1, %(n)s / 10) k
    """,
    """
    INSERT INTO audit_auditevent (id, at, actor_type, actor_id, actor_label, action, target_type,
                                  target_id, target_label, changes, ip, request_id)
    SELECT r, now() - (r %% 60) * interval '1 day', 'user', '1', 'bench@example.test',
           'task.cancel', 'task', r::text, 'B' || r, '{"status": ["accepted", "cancelled"]}',
           '127.0.0.1', md5(r::text)
    FROM generate_series(1, %(n)s / 20) r
    """,
]
SEQUENCES = [
    "agents_agentcategory",
    "agents_agent",
    "tasks_task",
    "tasks_taskitem",
    "tasks_taskevent",
    "agents_stockmovement",
    "tasks_tasknote",
    "audit_auditevent",
]


def database_prepare() -> None:
    ensure_database(os.environ["DATABASE_URL"])
    subprocess.run(
        [sys.executable, "manage.py", "platform_setup", "-v", "0"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def django_setup() -> None:
    import django

    django.setup()


def organization_prepare(n_tasks: int):
    """The benchmark's organization of ``n_tasks`` tasks (built once, reused)."""
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from organizations.models import Organization
    from organizations.services import organization_create
    from reports.models import DailyReport
    from tasks.models import Task

    slug = f"exb{n_tasks}"
    org = Organization.objects.filter(slug=slug).first()
    if org is not None:
        with tenant_context(org):
            if Task.objects.count() == n_tasks:
                return org
        org.delete(force_drop=True)
    started = time.perf_counter()
    org = organization_create(name=slug, slug=slug, domain=f"{slug}.localhost", language="en")
    with tenant_context(org), connection.cursor() as cursor:
        params = {"n": n_tasks, "categories": CATEGORIES, "agents": AGENTS}
        for statement in FILL_SQL:
            cursor.execute(statement, params)
        for table in SEQUENCES:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        cursor.execute(
            "INSERT INTO tasks_eventcounter (id, last_seq) VALUES (1, %s) "
            "ON CONFLICT (id) DO UPDATE SET last_seq = EXCLUDED.last_seq",
            [2 * n_tasks],
        )
        today = timezone.localdate()
        for day in range(1, REPORTS + 1):
            date = today - timedelta(days=day)
            name = default_storage.save(
                f"{org.schema_name}/reports/daily/{date}-bench.xlsx",
                ContentFile(os.urandom(REPORT_BYTES)),
            )
            DailyReport.objects.create(
                business_date=date, status="ready", file=name, metrics={"tasks_total": n_tasks}
            )
        cursor.execute("ANALYZE")
    connection.set_schema_to_public()
    print(f"  built {slug}: {n_tasks:,} tasks in {time.perf_counter() - started:.1f} s")
    return org


def run_one(slug: str) -> dict:
    """In this (fresh) process: export the organization once; memory and time."""
    import resource

    from django.db import connection
    from django_tenants.utils import tenant_context

    from exports.models import ExportJob
    from exports.services import export_run
    from organizations.models import Organization

    org = Organization.objects.get(slug=slug)
    with tenant_context(org):
        job = ExportJob.objects.create()
        # Everything the export needs is imported and connected: the baseline.
        connection.ensure_connection()
        before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        done = export_run(job_id=job.pk)
        seconds = time.perf_counter() - started
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        from django.core.files.storage import default_storage

        default_storage.delete(done.file)  # the bench keeps no archives
    return {
        "slug": slug,
        "rows": done.rows_written,
        "tables": done.tables,
        "archive_mb": round(done.size_bytes / 2**20, 1),
        "seconds": round(seconds, 1),
        "rss_before_mb": round(before_kb / 1024, 1),
        "rss_peak_mb": round(peak_kb / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--skip-setup", action="store_true")
    parser.add_argument("--run-one", help=argparse.SUPPRESS)  # the measuring child process
    args = parser.parse_args()
    if args.run_one:
        django_setup()
        print(json.dumps(run_one(args.run_one)))
        return
    if not args.skip_setup:
        database_prepare()
    django_setup()
    results = []
    for n_tasks in args.tasks:
        org = organization_prepare(n_tasks)
        child = subprocess.run(
            [sys.executable, __file__, "--run-one", org.slug],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        results.append(result)
        print(
            f"  {n_tasks:>7,} tasks: {result['rows']:>9,} rows, {result['archive_mb']} MB zip, "
            f"{result['seconds']} s, peak RSS {result['rss_peak_mb']} MB "
            f"(before the export: {result['rss_before_mb']} MB)"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"export-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
