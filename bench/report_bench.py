"""Benchmark: daily report generation and the daily dispatch across many organizations.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_rpbench \
    REDIS_URL=redis://127.0.0.1:6379/1 \
    .venv/bin/python bench/report_bench.py [--tasks 10000] [--orgs 1000] [--runs 3]

1. One organization with one business day of ``--tasks`` tasks (3 items each: 30,000 items for
   10,000 tasks): times ``report_generate`` (SQL metrics + comparisons + the xlsx workbook with
   every task + storage), ``--runs`` times; the target is < 5 s. The floor printed next to it
   is one bare aggregate over the same day (``count(*), sum(total)``), the cheapest query a
   report cannot avoid.
2. ``--orgs`` organizations (schemas cloned from the template once; re-runs reuse them), each
   with 12 tasks on its due business day: times the beat dispatcher (in this process) and one
   real Celery worker (``--pool=solo``, a subprocess) generating every organization's daily
   report, until all are ready. The dispatch stagger is 0 here, to measure capacity.

The database is created and set up (``manage.py platform_setup``) when missing.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database  # noqa: E402

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_rpbench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("MEDIA_ROOT", "/tmp/cc-rpbench-media")
DB_URL = os.environ["DATABASE_URL"]
BIG_DAY = date(2026, 1, 14)


def database_prepare() -> None:
    """The benchmark's database, created if missing and migrated."""
    ensure_database(DB_URL)
    subprocess.run(
        [sys.executable, "manage.py", "platform_setup", "-v", "0"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def clone_org(slug: str, **fields):
    from fleet import fleet_org_create

    from organizations.models import Organization

    org = Organization.objects.filter(slug=slug).first()
    return org or fleet_org_create(slug, **fields)


def bench_big_day(n_tasks: int, runs: int) -> dict:
    from django.db import connection
    from django_tenants.utils import tenant_context

    from organizations.business_day import business_day_bounds
    from reports.choices import ReportKind
    from reports.metrics import compute_metrics
    from reports.services import report_build, report_generate
    from tasks.models import Task, TaskItem
    from testing.factories import big_day
    from testing.factories import catalog_named as make_catalog

    org = clone_org(f"rpbig{n_tasks}")
    with tenant_context(org):
        start, end = business_day_bounds(org, BIG_DAY)
        if Task.objects.filter(created_at__gte=start, created_at__lt=end).count() != n_tasks:
            Task.objects.all().delete()
            from agents.models import Agent, AgentCategory

            Agent.objects.all().delete()
            AgentCategory.objects.all().delete()
            spec = {
                f"Category {c}": [(f"菜品 {c}-{i}", f"{10 + i}.50") for i in range(10)]
                for c in range(6)
            }
            t = time.perf_counter()
            big_day(org, make_catalog(spec), BIG_DAY.isoformat(), tasks=n_tasks)
            print(f"  wrote {n_tasks} tasks in {time.perf_counter() - t:.1f} s")
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE tasks_task; ANALYZE tasks_taskitem")
        items = TaskItem.objects.filter(task__created_at__gte=start, task__created_at__lt=end)
        n_items = items.count()

        floor = []
        for _ in range(runs):
            t = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*), sum(total) FROM tasks_task "
                    "WHERE created_at >= %s AND created_at < %s",
                    [start, end],
                )
                cursor.fetchall()
            floor.append(time.perf_counter() - t)
        metrics_t, build_t, total_t = [], [], []
        size = 0
        for _ in range(runs):
            t = time.perf_counter()
            compute_metrics(org, BIG_DAY, BIG_DAY)
            metrics_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            _m, content = report_build(organization=org, kind=ReportKind.DAILY, period=BIG_DAY)
            build_t.append(time.perf_counter() - t)
            size = len(content)
            t = time.perf_counter()
            report = report_generate(kind=ReportKind.DAILY, period=BIG_DAY, force=True)
            total_t.append(time.perf_counter() - t)
            assert report.metrics["tasks_total"] == n_tasks
    return {
        "tasks": n_tasks,
        "items": n_items,
        "floor_ms": statistics.median(floor) * 1000,
        "metrics_s": statistics.median(metrics_t),
        "build_s": statistics.median(build_t),
        "generate_s": statistics.median(total_t),
        "generate_max_s": max(total_t),
        "xlsx_kb": size / 1024,
    }


def prepare_fleet(n_orgs: int) -> list:
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import tenant_context
    from tqdm import tqdm

    from organizations.models import Organization
    from reports.models import DailyReport, MonthlyReport, ReportJob
    from reports.services import report_due_date
    from tasks.models import Task
    from testing.factories import TaskSpec, at
    from testing.factories import catalog_named as make_catalog
    from testing.factories import tasks_bulk as make_tasks

    now = timezone.now()
    orgs = []
    for i in tqdm(range(n_orgs), desc="organizations", unit="org"):
        org = clone_org(f"rpb{i:04d}")
        day = report_due_date(org, now)
        # Existed two days before the due day only: the dispatcher enqueues the daily report,
        # not last month's (that is a once-a-month extra job).
        Organization.objects.filter(pk=org.pk).update(
            created_at=now - timedelta(days=2), is_active=True
        )
        org.refresh_from_db()
        with tenant_context(org):
            DailyReport.objects.all().delete()
            MonthlyReport.objects.all().delete()
            ReportJob.objects.all().delete()
            if not Task.objects.filter(business_date=day).exists():
                Task.objects.all().delete()
                agents = list(
                    load_catalog().values() if catalog_exists() else make_catalog().agents.values()
                )
                make_tasks(
                    org,
                    [
                        TaskSpec(
                            at(org, f"{day} {11 + k % 10:02d}:{k * 4 % 60:02d}"),
                            "completed" if k % 6 else "cancelled",
                            [(agents[k % 3], 1 + k % 2), (agents[(k + 1) % 3], 1)],
                        )
                        for k in range(12)
                    ],
                )
        orgs.append(org)
    # Everything else in this database (the big-day organization) is left out of the round.
    Organization.objects.exclude(schema_name="public").exclude(pk__in=[o.pk for o in orgs]).update(
        is_active=False
    )
    connection.set_schema_to_public()
    return orgs


def catalog_exists() -> bool:
    from agents.models import Agent

    return Agent.objects.exists()


def load_catalog() -> dict:
    from agents.models import Agent

    return {a.name: a for a in Agent.objects.select_related("category")}


def ready_count(orgs) -> int:
    from django.db import connection

    parts = [
        f"SELECT count(*) AS n FROM \"{o.schema_name}\".reports_dailyreport WHERE status='ready'"
        for o in orgs
    ]
    total = 0
    with connection.cursor() as cursor:
        for i in range(0, len(parts), 200):
            cursor.execute(f"SELECT sum(n) FROM ({' UNION ALL '.join(parts[i : i + 200])}) s")
            total += int(cursor.fetchone()[0] or 0)
    return total


def bench_dispatch(n_orgs: int) -> dict:
    import redis
    from django.conf import settings

    from reports.services import reports_dispatch

    orgs = prepare_fleet(n_orgs)
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    log = Path("/tmp/cc-rpbench-worker.log")
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "config", "worker", "--pool=solo",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=os.environ.copy(), stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )  # fmt: skip
    try:
        time.sleep(3)
        settings.REPORTS_DISPATCH_STAGGER_SECONDS = 0
        t0 = time.perf_counter()
        sent = reports_dispatch()
        dispatch_s = time.perf_counter() - t0
        assert len(sent) == n_orgs, f"dispatched {len(sent)} jobs for {n_orgs} organizations"
        deadline = time.perf_counter() + 3600
        done = 0
        while time.perf_counter() < deadline:
            done = ready_count(orgs)
            if done >= n_orgs:
                break
            if worker.poll() is not None:
                raise RuntimeError(log.read_text())
            time.sleep(1)
        wall = time.perf_counter() - t0
        # A second beat finds everything ready: it must enqueue nothing.
        t1 = time.perf_counter()
        again = reports_dispatch()
        redispatch_s = time.perf_counter() - t1
    finally:
        worker.terminate()
        worker.wait(30)
    return {
        "orgs": n_orgs,
        "ready": done,
        "dispatch_s": dispatch_s,
        "all_ready_s": wall,
        "per_report_ms": wall / max(done, 1) * 1000,
        "reports_per_s": done / wall,
        "second_dispatch_jobs": len(again),
        "second_dispatch_s": redispatch_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-dispatch", action="store_true")
    args = parser.parse_args()
    database_prepare()
    import django

    django.setup()
    print(f"database {DB_URL}")
    big = bench_big_day(args.tasks, args.runs)
    print(
        f"daily report, {big['tasks']} tasks / {big['items']} items: generate "
        f"{big['generate_s']:.2f} s median (max {big['generate_max_s']:.2f} s; target < 5 s) = "
        f"metrics {big['metrics_s']:.2f} s + workbook/storage; report_build "
        f"{big['build_s']:.2f} s; xlsx {big['xlsx_kb']:.0f} KiB; floor aggregate "
        f"{big['floor_ms']:.1f} ms"
    )
    if args.skip_dispatch:
        return
    fleet = bench_dispatch(args.orgs)
    print(
        f"dispatch, {fleet['orgs']} organizations: beat dispatcher {fleet['dispatch_s']:.2f} s; "
        f"all {fleet['ready']} daily reports ready after {fleet['all_ready_s']:.1f} s on one "
        f"solo worker ({fleet['per_report_ms']:.0f} ms/report, "
        f"{fleet['reports_per_s']:.1f} reports/s); second dispatch enqueued "
        f"{fleet['second_dispatch_jobs']} jobs in {fleet['second_dispatch_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
