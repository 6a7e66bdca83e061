#!/usr/bin/env python
"""HTTP benchmark: the floor, the cached catalog read and task create, as ratios to the floor.

One command does everything (see bench/README.md):

    .venv/bin/python bench/http_bench.py                 # gunicorn (WSGI) and uvicorn (ASGI)
    .venv/bin/python bench/http_bench.py --server gunicorn --duration 20
    .venv/bin/python bench/http_bench.py --server uvicorn --spread-orgs 10 1000 --warmup 8

1. creates the ``cc_bench`` database if needed and runs ``manage.py platform_setup`` on it;
2. prepares an organization ``bench`` (host ``bench.localhost``) with 40 agents in 4 categories
   and 16 manager accounts, and a fleet of organizations for the spread scenarios
   (``spr00000``..., as many as the largest ``--spread-orgs`` size, built by bench/fleet.py),
   each with the same catalog and one shared manager, and issues their JWTs (``_prepare``, a
   Django subprocess);
3. for each server: starts one single-worker server per port with the production settings
   (``--balance ports``; ``shared``: one server, N workers, one socket), then ``--rounds``
   times each scenario in turn (after a ``VACUUM``), the load client in a *separate process*
   (``_load``, plain asyncio + uvloop over raw HTTP/1.1 keep-alive sockets spread evenly over
   the ports: no Django, no httpx, a few percent of one core at these rates), with a warm-up
   that is not counted;
4. prints throughput, p50/p95/p99, errors and the ratio to the floor of the same round, then
   the medians over the rounds and, per spread pair, the ratio of the larger fleet to the
   smallest (DESIGN 14: within 15%), and writes them as JSON (``--output``).

Scenarios: ``floor``, ``catalog``, ``task_create`` (one organization, 16 managers), and for each
spread size S, ``catalog_spread_S`` and ``task_create_spread_S``: the same requests, each one to
an organization drawn at random among the first S of the fleet (``spread`` in ``--scenarios``
stands for all of them).

The benchmark never touches a test database: ``DATABASE_URL`` defaults to ``cc_bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database, psycopg_url  # noqa: E402
from core.probes import wait_http  # noqa: E402  (no Django: safe before setup)

VENV_BIN = Path(sys.executable).parent
BENCH_SLUG = "bench"
BENCH_HOST = "bench.localhost"
AGENTS = 40
CATEGORIES = 4
USERS = 16
# Defaults shared with bench/inprocess.py.
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
LIFTED_USER_RATE = "100000000/min"  # the per-user throttle still runs, and never triggers

SCENARIOS = {
    "floor": {"method": "GET", "path": "/bench/floor/", "auth": False, "expect": 200},
    "catalog": {"method": "GET", "path": "/api/v1/agents/", "auth": True, "expect": 200},
    "task_create": {"method": "POST", "path": "/api/v1/tasks/", "auth": True, "expect": 201},
}
# ``<kind>_<S>``: the request of the base scenario, each one to an organization drawn at random
# among the first S of the spread fleet (DESIGN 14: flat with the number of organizations).
SPREAD_KINDS = {"catalog_spread": "catalog", "task_create_spread": "task_create"}
SPREAD_PREFIX = "spr"  # the fleet: spr00000, spr00001, ... (bench/fleet.py)
SPREAD_EMAIL = "spread@bench.test"  # one manager, a member of every spread organization
SPREAD_VARIANTS = 1000  # requests per connection slot before it cycles (16,000 draws in all)
SPREAD_TOLERANCE = 0.15


def spread_size(name: str) -> int | None:
    """S for a spread scenario ``<kind>_<S>``, None for any other name."""
    kind, _, size = name.rpartition("_")
    return int(size) if kind in SPREAD_KINDS and size.isdigit() and int(size) > 0 else None


def scenario_spec(name: str) -> dict:
    if name in SCENARIOS:
        return SCENARIOS[name]
    if spread_size(name) is None:
        raise KeyError(name)
    return SCENARIOS[SPREAD_KINDS[name.rpartition("_")[0]]]


def expand_scenarios(text: str, sizes: list[int]) -> list[str]:
    """The scenario names of ``--scenarios``; ``spread`` stands for every spread scenario of
    ``sizes``, the sizes of one kind next to each other (measured back to back)."""
    names: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if item == "spread":
            names += [f"{kind}_{size}" for kind in SPREAD_KINDS for size in sizes]
        elif item:
            scenario_spec(item)  # KeyError for an unknown name
            names.append(item)
    return list(dict.fromkeys(names))


def round_order(scenarios: list[str], number: int) -> list[str]:
    """Round ``number``'s order: rotated by one scenario per round (none always first, on the
    coolest machine), and in every second round the spread sizes of each kind swapped, so
    that each size of a pair is measured first in about half the rounds."""
    shift = (number - 1) % len(scenarios)
    order = scenarios[shift:] + scenarios[:shift]
    if number % 2 == 0:
        for kind in SPREAD_KINDS:
            slots = [i for i, name in enumerate(order) if name.rpartition("_")[0] == kind]
            names = [order[i] for i in slots]
            for i, name in zip(slots, reversed(names), strict=True):
                order[i] = name
    return order


# --- orchestration (no Django in this process) -----------------------------------------------


def manager_email(index: int) -> str:
    """The bench organization's ``index``-th manager account."""
    return f"manager{index}@bench.test"


def bench_env(args) -> dict:
    """The environment of the servers under test (``args``: database_url, redis_url,
    user_rate); ``bench/inprocess.py`` runs requests under it too."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
        "DJANGO_ALLOWED_HOSTS": ".localhost,localhost",
        "BENCH_FLOOR_ENABLED": "1",
        # Plain HTTP on loopback (TLS ends at the load balancer in production).
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        # The tokens outlive the run. The throttles (per user and per organization) still run,
        # and cost their Redis round trip, on every request, but never trigger.
        "JWT_ACCESS_MINUTES": "240",
        "THROTTLE_USER_RATE": args.user_rate,
        "SENTRY_DSN": "",
    }


def shared_buffers(database_url: str) -> str:
    """PostgreSQL's buffer pool size: the spread scenarios' figures depend on it (each
    organization that writes keeps about 1 MB of hot pages in it; docs/scaling.md)."""
    import psycopg

    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        return conn.execute("SHOW shared_buffers").fetchone()[0]


def vacuum(database_url: str) -> None:
    """Vacuum what autovacuum would have vacuumed by now (< 1 s).

    Every create updates a few single hot rows (the event counter, the day's sequence, stocked
    agents). Production PostgreSQL has autovacuum on and keeps their version chains short; a
    development server may not (this machine's runs with ``autovacuum = off``), and a few
    thousand dead versions of one row make each create's lookups measurably slower, run after
    run. Each scenario starts from the state autovacuum would leave.

    So only the tables past autovacuum's own threshold are vacuumed: more dead versions than
    ``autovacuum_vacuum_threshold`` + ``autovacuum_vacuum_scale_factor`` x the table's rows
    (the server's settings; per-table overrides are not read). Vacuuming every table with a dead
    version, as this did before, also reset every PostgreSQL session's caches for them: a
    vacuum invalidates each vacuumed table's cached relation and the plans that use it, and over
    the 1,000-organization fleet that made every session plan every organization's statements
    again before each scenario, which autovacuum, visiting only the tables past the threshold,
    does not (docs/performance.md, "Request path across organizations").
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        tables = conn.execute(
            "SELECT s.schemaname, s.relname FROM pg_stat_user_tables s"
            " JOIN pg_class c ON c.oid = s.relid"
            " WHERE s.n_dead_tup > current_setting('autovacuum_vacuum_threshold')::int"
            " + current_setting('autovacuum_vacuum_scale_factor')::float8"
            " * greatest(c.reltuples, 0)"
        ).fetchall()
        if tables:
            names = sql.SQL(", ").join(sql.Identifier(schema, name) for schema, name in tables)
            conn.execute(sql.SQL("VACUUM {}").format(names))


def run(cmd: list[str], env: dict, capture: bool = False) -> str:
    result = subprocess.run(cmd, env=env, cwd=ROOT, check=True, text=True, capture_output=capture)
    return result.stdout if capture else ""


def server_command(kind: str, args, port: int, workers: int) -> list[str]:
    bind_port = str(port)
    if kind == "gunicorn":
        return [
            str(VENV_BIN / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{bind_port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(args.threads),
            "--backlog",
            "2048",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ]
    return [
        str(VENV_BIN / "uvicorn"),
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        bind_port,
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "off",
    ]


def server_ports(args) -> list[int]:
    """The ports the load is spread over: one per worker process (``--balance ports`` and
    ``affinity``), or the one socket all workers share (``--balance shared``)."""
    if args.balance in ("ports", "affinity"):
        return [args.port + i for i in range(args.workers)]
    return [args.port]


def start_servers(kind: str, args, env: dict, log_dir: Path) -> list[subprocess.Popen]:
    ports = server_ports(args)
    workers = args.workers if args.balance == "shared" else 1
    procs = []
    for port in ports:
        log = open(log_dir / f"{kind}-{port}.log", "wb")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                server_command(kind, args, port, workers),
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        for port in ports:
            wait_http(port)
    except RuntimeError:
        stop_servers(procs)
        raise RuntimeError(f"{kind} failed to start, see {log_dir}/{kind}-*.log") from None
    return procs


def stop_servers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def cpu_seconds(server_groups: set[int]) -> dict[int, tuple[str, float]]:
    """Per process of the servers under test (their process groups), PostgreSQL and Redis: its
    component and the CPU seconds (user + system) it used so far, read from ``/proc`` (Linux;
    empty elsewhere). The load client is counted apart (``resource.RUSAGE_CHILDREN``: it is a
    child that exits)."""
    found = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                raw = stat.read()
        except OSError:  # exited meanwhile
            continue
        command = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # utime + stime, and cutime + cstime: an ended PostgreSQL backend's CPU moves to the
        # postmaster's children time (a pooled connection is closed after CONN_MAX_AGE).
        group, used = int(fields[2]), sum(int(value) for value in fields[11:15]) / tick
        if group in server_groups:
            found[int(entry)] = ("web", used)
        elif command == "postgres":
            found[int(entry)] = ("postgres", used)
        elif command.startswith("redis-server"):
            found[int(entry)] = ("redis", used)
    return found


def run_load(spec: dict) -> dict:
    # The spec goes through stdin: the request variants exceed what one argv string may hold.
    out = subprocess.run(
        [sys.executable, __file__, "_load"],
        input=json.dumps(spec),
        cwd=ROOT,
        check=True,
        text=True,
        capture_output=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def probe(port: int, request: bytes) -> tuple[int, bytes]:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.replace(b"Connection: keep-alive", b"Connection: close"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def home_port(host: str, ports: int) -> int:
    """The index of the worker an organization's requests go to under ``--balance affinity``:
    a hash of the Host modulo the workers (nginx ``hash $host``, HAProxy ``balance hdr(host)``)."""
    return zlib.crc32(host.encode()) % ports


def build_requests(
    scenario: str, prepared: dict, rng: random.Random, connections: int = 16, affinity: int = 0
) -> list[list[str]]:
    """Per connection slot, a list of raw requests the slot's connections cycle through.

    The bench organization's scenarios have one slot per manager (task bodies vary: 3 distinct
    random agents, 50 variants). A spread scenario ``<kind>_<S>`` has one slot per connection,
    each a list of ``SPREAD_VARIANTS`` requests to an organization drawn at random among the
    first S of the fleet (its host, its manager's token, its agents): shuffled passes over
    the S organizations dealt to the slots, so every S consecutive requests reach each one.

    ``affinity`` (the number of ports, ``--balance affinity``): connection slot ``i`` goes to
    port ``i % affinity``, so a spread scenario deals each organization only to the slots of
    its home port (``home_port``); the one-organization scenarios stay spread evenly (a
    balancer with bounded loads spreads one busy organization past its home worker)."""
    spec = scenario_spec(scenario)
    creates = spec["method"] == "POST"
    size = spread_size(scenario)
    if size is None:
        host = "localhost" if scenario == "floor" else prepared["host"]
        slots = [
            [(host, token, prepared["agent_ids"])] * (50 if creates else 1)
            for token in prepared["tokens"]
        ]
    else:
        fleet = prepared["spread"][:size]
        if len(fleet) < size:
            raise RuntimeError(f"{scenario}: only {len(fleet)} spread organizations prepared")
        # Random draws without replacement: shuffled passes over the S organizations, dealt
        # to the slots in turn, so that any S consecutive requests of the run (the warm-up's
        # first ones too) reach every organization once, in random order.
        deck: list[dict] = []
        while len(deck) < SPREAD_VARIANTS * connections:
            deck += rng.sample(fleet, len(fleet))
        if not affinity:
            slots = [
                [(org["host"], org["token"], org["agent_ids"]) for org in deck[slot::connections]]
                for slot in range(connections)
            ]
        else:
            homes: list[list[dict]] = [[] for _ in range(affinity)]
            for org in deck:
                homes[home_port(org["host"], affinity)].append(org)
            slots = []
            for slot in range(connections):
                port = slot % affinity
                if not homes[port]:
                    raise RuntimeError(f"{scenario}: no organization's home is port {port}")
                siblings = range(port, connections, affinity)  # the slots of this port
                share = homes[port][siblings.index(slot) :: len(siblings)] or homes[port]
                slots.append([(org["host"], org["token"], org["agent_ids"]) for org in share])
    per_slot = []
    for targets in slots:
        variants = []
        for host, token, agent_ids in targets:
            headers = [
                f"{spec['method']} {spec['path']} HTTP/1.1",
                f"Host: {host}",
                "Connection: keep-alive",
                "Accept: application/json",
            ]
            if spec["auth"]:
                headers.append(f"Authorization: Bearer {token}")
            body = ""
            if creates:
                agents = rng.sample(agent_ids, 3)
                body = json.dumps(
                    {
                        "items": [{"agent_id": a, "quantity": 1} for a in agents],
                        "workspace": f"B{rng.randint(1, 40):02d}",
                    }
                )
                headers += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
            variants.append("\r\n".join(headers) + "\r\n\r\n" + body)
        per_slot.append(variants)
    return per_slot


def run_round(
    args, scenarios: list[str], prepared: dict, rng: random.Random, server_groups: set[int]
) -> dict:
    """Every scenario once against the running servers; ratios to this round's floor.

    ``scenarios`` come in this round's order: the caller rotates it from round to round, so
    that no scenario is always measured first (on the coolest machine) or last.
    """
    server_results: dict = {}
    for scenario in scenarios:
        vacuum(args.database_url)
        affinity = len(server_ports(args)) if args.balance == "affinity" else 0
        requests = build_requests(scenario, prepared, rng, args.concurrency, affinity)
        status, body = probe(args.port, requests[0][0].encode())
        if status != scenario_spec(scenario)["expect"]:
            raise RuntimeError(f"{scenario}: probe answered {status}: {body[:300]!r}")
        cpu_before = cpu_seconds(server_groups)
        client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = run_load(
            {
                "ports": server_ports(args),
                "requests": requests,
                "concurrency": args.concurrency,
                "duration": args.duration,
                "warmup": args.warmup,
                "expect": scenario_spec(scenario)["expect"],
            }
        )
        result["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
        result["cpu_ms_per_request"] = cpu_per_request(
            cpu_before, client_before, time.perf_counter() - started, result["rps"], server_groups
        )
        server_results[scenario] = result
    floor = server_results.get("floor", {})
    for scenario, result in server_results.items():
        if floor.get("rps"):
            result["ratio_to_floor"] = round(result["rps"] / floor["rps"], 3)
        print(fmt_row(scenario, result, floor or None))
    return server_results


def cpu_per_request(
    before: dict, client_before, elapsed: float, rps: float, server_groups: set[int]
) -> dict:
    """Milliseconds of CPU per request, per component, over the whole load run (warm-up
    included: the rate is about the same): where the 2 cores go."""
    after = cpu_seconds(server_groups)
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Per process; one that started during the run counts whole.
    used = {"web": 0.0, "postgres": 0.0, "redis": 0.0}
    for pid, (name, seconds) in after.items():
        used[name] += seconds - before.get(pid, (name, 0.0))[1]
    used["client"] = (client_after.ru_utime + client_after.ru_stime) - (
        client_before.ru_utime + client_before.ru_stime
    )
    if not rps or not elapsed:
        return {}
    return {name: round(1000 * seconds / elapsed / rps, 3) for name, seconds in used.items()}


def fmt_cpu(cpu: dict) -> str:
    if not cpu:
        return ""
    parts = " ".join(f"{name} {cpu[name]:.2f}" for name in ("web", "postgres", "redis", "client"))
    return f"\n  {'':<24} CPU ms/request: {parts} (total {sum(cpu.values()):.2f})"


def summarize(rounds: list[dict], scenarios: list[str]) -> dict:
    """Per scenario (in ``scenarios``' order), the median over rounds of throughput, latencies
    and ratio; errors summed."""
    summary = {}
    for scenario in (name for name in scenarios if name in rounds[0]):
        rows = [r[scenario] for r in rounds]
        summary[scenario] = {
            key: round(statistics.median(row[key] for row in rows), 3)
            for key in ("rps", "p50_ms", "p95_ms", "p99_ms", "ratio_to_floor")
            if all(key in row for row in rows)
        }
        summary[scenario]["errors"] = sum(row["errors"] for row in rows)
        splits = [row["cpu_ms_per_request"] for row in rows if row.get("cpu_ms_per_request")]
        if len(splits) == len(rows):
            summary[scenario]["cpu_ms_per_request"] = {
                name: round(statistics.median(split[name] for split in splits), 3)
                for name in splits[0]
            }
        summary[scenario]["requests"] = sum(row["requests"] for row in rows)
    return summary


def spread_compare(rounds: list[dict], scenarios: list[str]) -> list[dict]:
    """Per spread kind and each larger size S, against the smallest size B of the run: the
    ratio rps(S)/rps(B) of each round (both measured in it) and its median, the median p99 of
    both, and whether the median ratio is within ``SPREAD_TOLERANCE`` of 1."""
    compared = []
    for kind in SPREAD_KINDS:
        sizes = sorted(spread_size(name) for name in scenarios if name.rpartition("_")[0] == kind)
        for size in sizes[1:]:
            base, large = f"{kind}_{sizes[0]}", f"{kind}_{size}"
            ratios = [
                r[large]["rps"] / r[base]["rps"] for r in rounds if r[base]["rps"] and r[large]
            ]
            if not ratios:
                continue
            ratio = statistics.median(ratios)
            compared.append(
                {
                    "kind": kind,
                    "base": sizes[0],
                    "size": size,
                    "ratio_rps": round(ratio, 3),
                    "ratio_rps_rounds": [round(value, 3) for value in ratios],
                    "p99_ms_base": round(statistics.median(r[base]["p99_ms"] for r in rounds), 2),
                    "p99_ms_size": round(statistics.median(r[large]["p99_ms"] for r in rounds), 2),
                    "within": abs(ratio - 1) <= SPREAD_TOLERANCE,
                }
            )
    return compared


def fmt_spread(row: dict) -> str:
    rounds = ", ".join(f"{value:.2f}" for value in row["ratio_rps_rounds"])
    verdict = "within" if row["within"] else "NOT within"
    return (
        f"  {row['kind']}: rps({row['size']})/rps({row['base']}) {row['ratio_rps']:.2f} "
        f"(rounds: {rounds}), p99 {row['p99_ms_size']:.1f} ms at {row['size']} vs "
        f"{row['p99_ms_base']:.1f} ms at {row['base']}: {verdict} "
        f"{SPREAD_TOLERANCE:.0%}"
    )


def fmt_summary(name: str, row: dict) -> str:
    # A run without the floor scenario has no ratio: "-", as in each round's line, not 0.00x.
    ratio = f"{row['ratio_to_floor']:.2f}x" if "ratio_to_floor" in row else "-"
    return (
        f"  {name:<24} {row['rps']:>9.0f} req/s  p50 {row['p50_ms']:>6.1f}  "
        f"p95 {row['p95_ms']:>6.1f}  p99 {row['p99_ms']:>6.1f} ms  errors {row['errors']:>4}  "
        f"ratio {ratio}" + fmt_cpu(row.get("cpu_ms_per_request", {}))
    )


def fmt_row(name: str, r: dict, floor: dict | None) -> str:
    ratio = f"{r['rps'] / floor['rps']:.2f}x" if floor and floor["rps"] else "-"
    return (
        f"  {name:<24} {r['rps']:>9.0f} req/s  p50 {r['p50_ms']:>6.1f}  p95 {r['p95_ms']:>6.1f}  "
        f"p99 {r['p99_ms']:>6.1f} ms  errors {r['errors']:>4}  (n={r['requests']})  "
        f"ratio {ratio}  load {r['loadavg_1m_after']}" + fmt_cpu(r.get("cpu_ms_per_request", {}))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=["gunicorn", "uvicorn", "both"], default="both")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn gthread threads")
    parser.add_argument("--port", type=int, default=8110, help="first port")
    parser.add_argument(
        "--balance",
        choices=["ports", "affinity", "shared"],
        default="ports",
        help="ports: one single-worker server per port, connections spread evenly (what a load "
        "balancer in front of the workers does); affinity: the same servers, each spread "
        "organization's requests to one port by a hash of its Host (docs/scaling.md); shared: "
        "one server with --workers N on one socket, where the kernel hands the few keep-alive "
        "connections to workers unevenly",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16, help="open connections")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="run every scenario this many times in turn and report medians (a single run on a "
        "shared 2-core machine swings by a third)",
    )
    parser.add_argument(
        "--scenarios",
        default="floor,catalog,task_create,spread",
        help="comma-separated: floor, catalog, task_create, catalog_spread_<S>, "
        "task_create_spread_<S>, and spread (both kinds at every --spread-orgs size)",
    )
    parser.add_argument(
        "--spread-orgs",
        type=int,
        nargs="+",
        default=[10, 1000],
        metavar="S",
        help="fleet sizes of the spread scenarios: every request to an organization drawn at "
        "random among the first S of the fleet, which is built up to the largest S",
    )
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument(
        "--user-rate", default=LIFTED_USER_RATE, help="THROTTLE_USER_RATE for the server"
    )
    parser.add_argument(
        "--org-rpm",
        type=int,
        default=100_000_000,
        help="the bench organization's requests_per_minute (0: plan throttle skipped)",
    )
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "http_bench.json"))
    parser.add_argument("--skip-setup", action="store_true", help="skip platform_setup")
    args = parser.parse_args()

    env = bench_env(args)
    log_dir = Path(args.output).parent
    log_dir.mkdir(parents=True, exist_ok=True)
    ensure_database(args.database_url)
    if not args.skip_setup:
        print("platform_setup on", args.database_url)
        run([sys.executable, "manage.py", "platform_setup", "--verbosity", "0"], env, True)
    sizes = sorted(set(args.spread_orgs))
    scenarios = expand_scenarios(args.scenarios, sizes)
    fleet_size = max((spread_size(name) or 0 for name in scenarios), default=0)
    # Progress (fleet build, catalogs) goes to stderr, shown; the JSON comes on stdout.
    prepared = json.loads(
        subprocess.run(
            [sys.executable, __file__, "_prepare", str(args.org_rpm), str(fleet_size)],
            env=env,
            cwd=ROOT,
            check=True,
            text=True,
            stdout=subprocess.PIPE,
        ).stdout.splitlines()[-1]
    )
    print(
        f"prepared {prepared['host']}: {len(prepared['agent_ids'])} agents, "
        f"{len(prepared['tokens'])} users; {len(prepared['spread'])} spread organizations"
    )

    rng = random.Random(42)
    servers = ["gunicorn", "uvicorn"] if args.server == "both" else [args.server]
    results: dict = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "loadavg_1m_before": round(os.getloadavg()[0], 2),
        "concurrency": args.concurrency,
        "workers": args.workers,
        "balance": args.balance,
        "threads": args.threads,
        "duration_s": args.duration,
        "user_rate": args.user_rate,
        "asgi_http": os.environ.get("ASGI_HTTP", "wsgi"),
        "org_requests_per_minute": args.org_rpm,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "scenarios": scenarios,
        "spread_orgs": sizes,
        "shared_buffers": shared_buffers(args.database_url),
        "servers": {},
    }
    for kind in servers:
        print(
            f"\n== {kind} ({args.workers} workers, balance={args.balance}"
            + (
                f" x {args.threads} threads, gthread"
                if kind == "gunicorn"
                else f", uvloop, ASGI_HTTP={os.environ.get('ASGI_HTTP', 'wsgi')}"
            )
            + f"), {args.concurrency} connections, {args.duration:.0f}s per scenario, "
            f"PostgreSQL shared_buffers {results['shared_buffers']}"
        )
        procs = start_servers(kind, args, env, log_dir)
        rounds: list[dict] = []
        try:
            for number in range(1, args.rounds + 1):
                order = round_order(scenarios, number)
                if args.rounds > 1:
                    print(f"  round {number}/{args.rounds} (order: {', '.join(order)})")
                groups = {proc.pid for proc in procs}  # each server leads its process group
                rounds.append(run_round(args, order, prepared, rng, groups))
        finally:
            stop_servers(procs)
        compared = spread_compare(rounds, scenarios)
        results["servers"][kind] = {
            "rounds": rounds,
            "median": summarize(rounds, scenarios),
            "spread": compared,
        }
        if args.rounds > 1:
            print(f"  median of {args.rounds} rounds (ratio: median of each round's own ratio)")
            for scenario, row in results["servers"][kind]["median"].items():
                print(fmt_summary(scenario, row))
        if compared:
            print(
                f"  spread over organizations (median of each round's own ratio; DESIGN 14: "
                f"within {SPREAD_TOLERANCE:.0%}), load average now {os.getloadavg()[0]:.1f}"
            )
            for row in compared:
                print(fmt_spread(row))
    Path(args.output).write_text(json.dumps(results, indent=2))
    print(f"\nresults: {args.output}")
    return 0


# --- _prepare: the bench organization (Django, production settings) -------------------------


def prepare(org_rpm: int, spread_orgs: int) -> None:
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.db import connection

    from accounts.models import User
    from accounts.tokens import tokens_for_membership

    users = []
    for i in range(USERS):
        user = User.objects.filter(email=manager_email(i)).first()
        if user is None:
            user = User.objects.create_user(email=manager_email(i), password="bench-123")
        users.append(user)
    org, agent_ids = _prepare_org(BENCH_SLUG, BENCH_HOST, org_rpm, users)
    tokens = [
        str(tokens_for_membership(user=user, organization=org).access_token) for user in users
    ]
    spread = _prepare_spread(spread_orgs, org_rpm) if spread_orgs else []
    connection.set_schema_to_public()
    print(
        json.dumps({"host": BENCH_HOST, "tokens": tokens, "agent_ids": agent_ids, "spread": spread})
    )


def _prepare_spread(count: int, org_rpm: int) -> list[dict]:
    """The spread fleet ``spr00000``... up to ``count`` (bench/fleet.py: schemas as provisioning
    makes them), each with the bench organization's catalog shape written in bulk, one manager
    shared by all, and a JWT each. Idempotent: a re-run only fills what is missing."""
    from django.db import connection
    from django_tenants.utils import tenant_context
    from fleet import fleet_ensure
    from tqdm import tqdm

    from accounts.choices import Role
    from accounts.models import Membership, User
    from accounts.tokens import tokens_for_membership
    from agents.cache import catalog_cache_bump
    from agents.models import Agent
    from organizations.models import Organization

    slugs = fleet_ensure(count=count, prefix=SPREAD_PREFIX)
    connection.set_schema_to_public()
    by_slug = {org.slug: org for org in Organization.objects.filter(slug__in=slugs)}
    orgs = [by_slug[slug] for slug in slugs]
    # Lifted as for the bench organization (the throttle still counts every call).
    Organization.objects.filter(slug__in=slugs).update(requests_per_minute=org_rpm, max_agents=1000)
    user = User.objects.filter(email=SPREAD_EMAIL).first()
    if user is None:
        user = User.objects.create_user(email=SPREAD_EMAIL, password="bench-123")
    Membership.objects.bulk_create(
        [Membership(user=user, organization=org, role=Role.MANAGER) for org in orgs],
        ignore_conflicts=True,
    )
    spread, filled = [], 0
    for org in tqdm(orgs, desc="spread catalogs", unit="org", file=sys.stderr):
        with tenant_context(org):
            agent_ids = list(Agent.objects.filter(is_available=True).values_list("id", flat=True))
            if len(agent_ids) < AGENTS:
                agent_ids = _spread_catalog_fill()
                # bulk_create skips the services and their version bump: any page cached for
                # this organization before (a rebuilt database, a kept Redis) stops matching.
                catalog_cache_bump(org.schema_name)
                filled += 1
        token = tokens_for_membership(user=user, organization=org).access_token
        host = f"{org.slug}.localhost"
        spread.append({"host": host, "token": str(token), "agent_ids": agent_ids})
    print(f"spread: {len(orgs)} organizations, {filled} catalogs written", file=sys.stderr)
    return spread


def _spread_catalog_fill() -> list[int]:
    """The bench organization's catalog in the current schema, in bulk and in one transaction
    (so a killed run leaves all of it or none): 4 categories, 40 agents, the even ones with a
    limited stock of ``MAX_STOCK`` and its ``initial`` ledger movement, threshold 5. Returns the
    ids of the available agents."""
    from decimal import Decimal

    from django.db import transaction

    from agents.choices import StockReason
    from agents.constants import MAX_STOCK
    from agents.models import Agent, AgentCategory, StockMovement

    with transaction.atomic():
        categories = list(AgentCategory.objects.order_by("sort_order"))
        categories += AgentCategory.objects.bulk_create(
            AgentCategory(name=f"Category {i}", sort_order=i)
            for i in range(len(categories), CATEGORIES)
        )
        present = Agent.objects.count()
        agents = Agent.objects.bulk_create(
            Agent(
                name=f"Agent {i:02d}",
                category=categories[i % CATEGORIES],
                unit_price=Decimal("10.00") + i,
                stock=MAX_STOCK if i % 2 == 0 else None,
                low_stock_threshold=5,
            )
            for i in range(present, AGENTS)
        )
        StockMovement.objects.bulk_create(
            StockMovement(
                agent_id=agent.id,
                delta=agent.stock,
                reason=StockReason.INITIAL,
                stock_after=agent.stock,
                note="initial stock",
            )
            for agent in agents
            if agent.stock is not None
        )
    return list(Agent.objects.filter(is_available=True).values_list("id", flat=True))


def _prepare_org(slug: str, host: str, org_rpm: int, users: list) -> tuple:
    """The organization (created if missing) with its catalog and these users as managers;
    returns it with the ids of its available agents."""
    from decimal import Decimal

    from django.db import connection, transaction
    from django_tenants.utils import tenant_context

    from accounts.choices import Role
    from accounts.models import Membership
    from agents.constants import MAX_STOCK
    from agents.models import Agent, AgentCategory
    from agents.services import agent_create, category_create
    from agents.stock import agents_lock, stock_adjust
    from organizations.models import Organization
    from organizations.services import organization_create

    connection.set_schema_to_public()
    org = Organization.objects.filter(slug=slug).first()
    if org is None:
        org = organization_create(
            name=slug.capitalize(),
            slug=slug,
            domain=host,
        )
    # The plan limit is lifted, not removed: the organization throttle still counts every call.
    # (0 would skip it; the model validator forbids 0, hence the direct update.)
    Organization.objects.filter(pk=org.pk).update(requests_per_minute=org_rpm, max_agents=1000)
    org.refresh_from_db()
    for user in users:
        Membership.objects.get_or_create(
            user=user, organization=org, defaults={"role": Role.MANAGER}
        )
    with tenant_context(org):
        categories = list(AgentCategory.objects.order_by("sort_order"))
        for i in range(len(categories), CATEGORIES):
            categories.append(category_create(name=f"Category {i}", sort_order=i))
        for i in range(Agent.objects.count(), AGENTS):
            agent_create(
                name=f"Agent {i:02d}",
                category=categories[i % CATEGORIES],
                unit_price=Decimal("10.00") + i,
                # Half the catalog has a (large) stock: task create takes it on the real path.
                stock=MAX_STOCK if i % 2 == 0 else None,
                low_stock_threshold=5,
            )
        for agent in Agent.objects.filter(stock__lt=MAX_STOCK // 2):
            with transaction.atomic():
                locked = agents_lock([agent.pk])[agent.pk]
                stock_adjust(agent=locked, delta=MAX_STOCK - locked.stock, note="bench refill")
        agent_ids = list(Agent.objects.filter(is_available=True).values_list("id", flat=True))
    return org, agent_ids


# --- _load: the client (separate process, no Django) -----------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            key, value = line.split(b":", 1)
            headers[key.strip().lower()] = value.strip().lower()
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding") == b"chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, headers.get(b"connection") != b"close"


async def _load_async(spec: dict) -> dict:
    ports, expect = spec["ports"], spec["expect"]
    requests = [[r.encode() for r in variants] for variants in spec["requests"]]
    start = time.perf_counter()
    measure_from = start + spec["warmup"]
    deadline = measure_from + spec["duration"]
    latencies: list[float] = []
    errors: Counter = Counter()

    async def connection_loop(index: int) -> None:
        variants = requests[index % len(requests)]
        port = ports[index % len(ports)]
        reader = writer = None
        i = index
        while True:
            sent_at = time.perf_counter()
            if sent_at >= deadline:
                break
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(variants[i % len(variants)])
                i += 1
                status, keep_alive = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                if sent_at >= measure_from:
                    errors[type(exc).__name__] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
                continue
            done_at = time.perf_counter()
            if sent_at >= measure_from:
                latencies.append(done_at - sent_at)
                if status != expect:
                    errors[str(status)] += 1
            if not keep_alive:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection_loop(i) for i in range(spec["concurrency"])))
    elapsed = time.perf_counter() - measure_from
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(0.50), 2),
        "p95_ms": round(pct(0.95), 2),
        "p99_ms": round(pct(0.99), 2),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
    }


def load(spec: dict) -> None:
    try:
        import uvloop

        result = uvloop.run(_load_async(spec))
    except ImportError:  # uvloop comes with uvicorn[standard]; plain asyncio works too
        result = asyncio.run(_load_async(spec))
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "_prepare":
        prepare(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_load":
        load(json.loads(sys.stdin.read()))
    else:
        sys.exit(main())
