"""Realtime benchmark: event delivery latency to display screens over real WebSockets.

    .venv/bin/python bench/realtime_bench.py          # 200 screens, 100 orgs, 100 tasks/s, 30 s
    .venv/bin/python bench/realtime_bench.py --screens 50 --orgs 10 --rate 20 --duration 10

What it does, in one command:

1. Creates the database (``--database-url``, default ``cc_rtbench``) if missing, runs
   ``platform_setup`` and prepares (idempotently) ``--orgs`` organizations ``rtbNNN.localhost``
   with one category and one agent each, and ``--screens`` all-station screens spread over them
   (their tokens are rotated at every run: only hashes are stored).
2. Starts the production ASGI app (``config.asgi``, production settings) under uvicorn with
   ``--server-workers`` processes on ``--port``: the same command ``make run`` uses.
3. Starts ``--client-procs`` client processes (no Django): each screen gets a ticket over HTTP,
   opens its WebSocket (``websockets``) and records every event with its receive time.
4. Starts ``--writers`` writer processes that create tasks through ``tasks.services.task_create``
   at ``--rate`` tasks/s in total, spread uniformly over the organizations, for ``--duration``
   seconds (the real publish path: commit, then one pipelined ``PUBLISH`` to the pub/sub layer).
5. After a drain period, compares what every screen received with the events committed in its
   organization (``seq`` after its snapshot): lost, duplicated and out-of-order counts, and the
   delivery latency (receive time - the event's ``at``, stamped inside the transaction, so it
   includes commit and fan-out) p50 / p95 / p99 / max.

Results go to ``--output`` (JSON) and stdout.
"""

import argparse
import asyncio
import itertools
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database  # noqa: E402
from core.probes import wait_http  # noqa: E402  (no Django: safe before setup)

VENV_BIN = Path(sys.executable).parent
ORG_PREFIX = "rtb"


def bench_env(args) -> dict:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
        "DJANGO_ALLOWED_HOSTS": ".localhost,localhost",
        "LOG_LEVEL": "WARNING",
        # Plain HTTP on loopback (TLS ends at the load balancer in production).
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "SENTRY_DSN": "",
        "WS_RECHECK_SECONDS": "15",
    }


def django_setup(args) -> None:
    os.environ.update(bench_env(args))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- preparation (Django, in this process) ---------------------------------------------------


def prepare(args) -> list[dict]:
    """Organizations, one agent each, screens with fresh tokens. Returns the screens."""
    django_setup(args)
    from django.db import connection
    from django_tenants.utils import tenant_context

    from agents.models import Agent, AgentCategory
    from displays.models import Screen
    from displays.services import screen_create, screen_rotate_token
    from organizations.models import Organization
    from organizations.services import organization_create

    screens = []
    per_org = [
        args.screens // args.orgs + (1 if i < args.screens % args.orgs else 0)
        for i in range(args.orgs)
    ]
    started = time.monotonic()
    for index in range(args.orgs):
        slug = f"{ORG_PREFIX}{index:03d}"
        host = f"{slug}.localhost"
        connection.set_schema_to_public()
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            org = organization_create(
                name=f"RT bench {index}",
                slug=slug,
                domain=host,
            )
        Organization.objects.filter(pk=org.pk).update(max_screens=10_000, is_active=True)
        org.refresh_from_db()
        with tenant_context(org):
            category, _ = AgentCategory.objects.get_or_create(name="Kitchen")
            Agent.objects.get_or_create(
                name="Noodles", category=category, defaults={"unit_price": "18.00"}
            )
            existing = list(Screen.objects.filter(is_active=True).order_by("id"))
            while len(existing) < per_org[index]:
                existing.append(screen_create(name=f"S{len(existing)}")[0])
            for screen in existing[: per_org[index]]:
                _, token = screen_rotate_token(screen_id=screen.pk)
                screens.append({"host": host, "schema": org.schema_name, "token": token})
    connection.set_schema_to_public()
    print(
        f"prepared {args.orgs} organizations, {len(screens)} screens "
        f"in {time.monotonic() - started:.1f}s"
    )
    return screens


def final_seqs(args, schemas: list[str]) -> dict[str, int]:
    from django.db import connection
    from django_tenants.utils import schema_context

    from displays.selectors import event_last_seq

    result = {}
    for schema in schemas:
        with schema_context(schema):
            result[schema] = event_last_seq()
    connection.close()
    return result


# --- server ------------------------------------------------------------------------------------


def start_server(args, log_path: Path) -> subprocess.Popen:
    command = [
        str(VENV_BIN / "uvicorn"),
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        "--workers",
        str(args.server_workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--ws",
        "websockets",
        "--no-access-log",
        "--lifespan",
        "off",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(
        command,
        env=bench_env(args),
        cwd=ROOT,
        stdout=open(log_path, "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_http(args.port, timeout=60.0)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# --- clients (no Django) ---------------------------------------------------------------------


async def _screen_client(port, screen, ready, stop_event, out):
    import httpx
    import websockets

    async with httpx.AsyncClient(timeout=30) as http:
        for attempt in range(5):
            response = await http.post(
                f"http://127.0.0.1:{port}/api/v1/realtime/tickets/",
                headers={"Host": screen["host"], "Authorization": f"Screen {screen['token']}"},
            )
            if response.status_code == 201:
                break
            await asyncio.sleep(0.5 * (attempt + 1))
        response.raise_for_status()
        ticket = response.json()["ticket"]
    uri = f"ws://{screen['host']}:{port}/ws/v1/tasks/?ticket={ticket}"
    record = {"schema": screen["schema"], "snapshot_seq": None, "events": []}
    out.append(record)
    async with websockets.connect(
        uri,
        host="127.0.0.1",
        port=port,
        origin=f"http://{screen['host']}:{port}",
        proxy=None,
        max_queue=None,
        ping_interval=None,
        open_timeout=60,
    ) as ws:
        while True:
            receive = asyncio.ensure_future(ws.recv())
            stopper = asyncio.ensure_future(stop_event.wait())
            done, _ = await asyncio.wait({receive, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:
                receive.cancel()
                return
            stopper.cancel()
            now = time.time()
            message = json.loads(receive.result())
            kind = message.get("type", "")
            if kind == "snapshot":
                record["snapshot_seq"] = message["seq"]
                ready()
            elif kind.startswith("task."):
                at = datetime.fromisoformat(message["at"]).timestamp()
                record["events"].append((message["seq"], now - at, at))


def client_process(port, screens, ready_counter, stop_flag, result_queue):
    async def main():
        stop_event = asyncio.Event()
        out = []

        def ready():
            with ready_counter.get_lock():
                ready_counter.value += 1

        tasks = [
            asyncio.create_task(_screen_client(port, screen, ready, stop_event, out))
            for screen in screens
        ]

        async def watch():
            while not stop_flag.is_set():
                await asyncio.sleep(0.1)
            stop_event.set()

        watcher = asyncio.create_task(watch())
        results = await asyncio.gather(*tasks, return_exceptions=True)
        watcher.cancel()
        errors = [repr(r) for r in results if isinstance(r, BaseException)]
        return out, errors

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out, errors = asyncio.run(main())
    result_queue.put({"screens": out, "errors": errors})


# --- writers (Django) --------------------------------------------------------------------------


def writer_process(args_dict, schemas, rate, duration, start_at, result_queue):
    args = argparse.Namespace(**args_dict)
    django_setup(args)
    from django_tenants.utils import tenant_context

    from agents.models import Agent
    from organizations.models import Organization
    from tasks.services import task_create

    orgs = list(Organization.objects.filter(schema_name__in=schemas).order_by("schema_name"))
    agents = {}
    for org in orgs:
        with tenant_context(org):
            agents[org.pk] = Agent.objects.values_list("pk", flat=True).first()
    while time.time() < start_at:
        time.sleep(0.01)
    interval = 1.0 / rate
    created, errors, index = 0, 0, 0
    next_at = time.monotonic()
    end = next_at + duration
    while time.monotonic() < end:
        org = orgs[index % len(orgs)]
        index += 1
        try:
            with tenant_context(org):
                task_create(user=None, items=[{"agent_id": agents[org.pk], "quantity": 1}])
            created += 1
        except Exception as exc:  # counted, never silent
            errors += 1
            if errors < 5:
                print("writer error:", repr(exc), file=sys.stderr)
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    result_queue.put({"created": created, "errors": errors})


# --- analysis ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def analyse(records: list[dict], finals: dict[str, int], measure_from: float) -> dict:
    """Loss, duplicates and order over every event; latency over the measured window (events
    stamped after the warm-up: the first publish of a writer process opens its connections)."""
    latencies, lost, duplicated, out_of_order, delivered = [], 0, 0, 0, 0
    for record in records:
        seqs = [seq for seq, _, _ in record["events"]]
        latencies += [latency for _, latency, at in record["events"] if at >= measure_from]
        delivered += len(seqs)
        start = record["snapshot_seq"] or 0
        expected = set(range(start + 1, finals[record["schema"]] + 1))
        lost += len(expected - set(seqs))
        duplicated += len(seqs) - len(set(seqs))
        out_of_order += sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
    ms = [1000 * value for value in latencies]
    return {
        "delivered": delivered,
        "lost": lost,
        "duplicated": duplicated,
        "out_of_order": out_of_order,
        "latency_samples": len(ms),
        "latency_ms": {
            "p50": round(percentile(ms, 50), 1),
            "p95": round(percentile(ms, 95), 1),
            "p99": round(percentile(ms, 99), 1),
            "max": round(max(ms), 1) if ms else None,
            "mean": round(statistics.fmean(ms), 1) if ms else None,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--screens", type=int, default=200)
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--rate", type=float, default=100.0, help="tasks per second, total")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--drain", type=float, default=3.0, help="seconds to wait after writes")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="first seconds of writes not in the latency"
    )
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8320)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_rtbench"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    )
    parser.add_argument("--skip-setup", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "realtime_bench.json"))
    args = parser.parse_args()
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)

    ensure_database(args.database_url)
    if not args.skip_setup:
        subprocess.run(
            [sys.executable, "manage.py", "platform_setup"],
            env=bench_env(args),
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    screens = prepare(args)
    from django.db import connection

    connection.close()
    schemas = sorted({screen["schema"] for screen in screens})

    ctx = mp.get_context("spawn")
    server = start_server(args, output.parent / "realtime_server.log")
    clients, writers = [], []
    try:
        print(
            f"server: uvicorn config.asgi:application --workers {args.server_workers} "
            f"on :{args.port}"
        )
        ready_counter = ctx.Value("i", 0)
        stop_flag = ctx.Event()
        results = ctx.Queue()
        shares = [screens[i :: args.client_procs] for i in range(args.client_procs)]
        for share in shares:
            proc = ctx.Process(
                target=client_process, args=(args.port, share, ready_counter, stop_flag, results)
            )
            proc.start()
            clients.append(proc)
        deadline = time.monotonic() + 120
        while ready_counter.value < len(screens):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {ready_counter.value}/{len(screens)} screens connected")
            time.sleep(0.2)
        print(
            f"{len(screens)} screens connected; writing {args.rate:g} tasks/s "
            f"for {args.duration:g}s"
        )

        writer_results = ctx.Queue()
        start_at = time.time() + 1.0
        for index in range(args.writers):
            proc = ctx.Process(
                target=writer_process,
                args=(
                    vars(args),
                    schemas[index :: args.writers] or schemas,
                    args.rate / args.writers,
                    args.duration,
                    start_at,
                    writer_results,
                ),
            )
            proc.start()
            writers.append(proc)
        written = [writer_results.get(timeout=args.duration + 120) for _ in writers]
        for proc in writers:
            proc.join(10)
        time.sleep(args.drain)
        stop_flag.set()
        collected = [results.get(timeout=60) for _ in clients]
        for proc in clients:
            proc.join(10)
    finally:
        for proc in clients + writers:
            if proc.is_alive():
                proc.terminate()
        stop(server)

    finals = final_seqs(args, schemas)
    records = [record for part in collected for record in part["screens"]]
    client_errors = [error for part in collected for error in part["errors"]]
    created = sum(part["created"] for part in written)
    summary = {
        "screens": len(screens),
        "organizations": len(schemas),
        "rate_target": args.rate,
        "duration_s": args.duration,
        "tasks_created": created,
        "tasks_per_s": round(created / args.duration, 1),
        "writer_errors": sum(part["errors"] for part in written),
        "client_errors": client_errors[:5],
        "server_workers": args.server_workers,
        "warmup_s": args.warmup,
        **analyse(records, finals, measure_from=start_at + args.warmup),
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    output.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    ok = (
        summary["lost"] == 0
        and summary["duplicated"] == 0
        and summary["out_of_order"] == 0
        and not client_errors
        and summary["latency_ms"]["p99"] < 100
    )
    print("TARGET MET" if ok else "TARGET MISSED", "(p99 < 100 ms, zero lost/duplicated)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
