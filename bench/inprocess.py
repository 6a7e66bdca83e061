#!/usr/bin/env python
"""CPU per request of the bench scenarios in one process, without a server or a load client.

    .venv/bin/python bench/inprocess.py                      # floor, catalog, create
    .venv/bin/python bench/inprocess.py catalog --profile    # cProfile, CPU time, cumulative

Each request goes through Django's WSGI handler with the production settings, exactly as the
server would call it, on the database and Redis of ``bench/http_bench.py`` (run that once first:
it prepares the organization ``bench``). For each scenario: 30 warm-up requests, then the best
of ``--repeat`` rounds of ``--requests`` requests, in CPU milliseconds of this process
(``time.process_time``: PostgreSQL's and Redis's own CPU is not included).

What it is for: comparing two versions of the code on the same machine minutes apart (a change
of 2-3% is visible here and lost in the HTTP bench's noise). What it is not: the targets. Under
load a request costs about twice its in-process CPU (the server, thread hand-offs, two cores
shared with PostgreSQL and Redis); the ratios are measured only by ``http_bench.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.http_bench import (  # noqa: E402  (no Django)
    BENCH_SLUG,
    DATABASE_URL,
    LIFTED_USER_RATE,
    REDIS_URL,
    bench_env,
    manager_email,
)

SCENARIOS = ("floor", "catalog", "create")


class Client:
    """Builds WSGI environs for the three scenarios and runs them through the handler."""

    def __init__(self, host: str, token: str, agent_ids: list[int]):
        from django.core.handlers.wsgi import WSGIHandler

        self.app = WSGIHandler()
        self.host, self.token, self.agent_ids = host, token, agent_ids
        self.rng = random.Random(1)
        self.status = ""

    def _environ(self, method: str, path: str, host: str, body: bytes, auth: bool) -> dict:
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": host,
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": host,
            "HTTP_ACCEPT": "application/json",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
        }
        if auth:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        return environ

    def environ(self, scenario: str) -> dict:
        if scenario == "floor":
            return self._environ("GET", "/bench/floor/", "localhost", b"", auth=False)
        if scenario == "catalog":
            return self._environ("GET", "/api/v1/agents/", self.host, b"", auth=True)
        # The HTTP bench's body: 3 distinct random agents, quantity 1, a workspace.
        agents = self.rng.sample(self.agent_ids, 3)
        body = {"items": [{"agent_id": a, "quantity": 1} for a in agents], "workspace": "B01"}
        return self._environ("POST", "/api/v1/tasks/", self.host, json.dumps(body).encode(), True)

    def _start_response(self, status, headers, exc_info=None):
        self.status = status

    def request(self, scenario: str) -> None:
        result = self.app(self.environ(scenario), self._start_response)
        b"".join(result)
        result.close()


def prepared_client() -> Client:
    from django.db import connection
    from django_tenants.utils import tenant_context

    from accounts.models import User
    from accounts.tokens import tokens_for_membership
    from agents.models import Agent
    from organizations.models import Organization

    org = Organization.objects.filter(slug=BENCH_SLUG).first()
    user = User.objects.filter(email=manager_email(0)).first()
    if org is None or user is None:
        sys.exit("No bench organization here: run bench/http_bench.py once (it prepares it).")
    token = str(tokens_for_membership(user=user, organization=org).access_token)
    with tenant_context(org):
        agent_ids = list(Agent.objects.filter(is_available=True).values_list("id", flat=True))
    connection.set_schema_to_public()
    return Client(org.domains.get(is_primary=True).domain, token, agent_ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (all)")
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (the best one counts)")
    parser.add_argument("--profile", action="store_true", help="cProfile one round instead")
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}: choose from {SCENARIOS}")
    args.scenarios = args.scenarios or list(SCENARIOS)
    # The environment http_bench.py gives its servers, with the same lifted rate limit.
    server = SimpleNamespace(
        database_url=args.database_url, redis_url=args.redis_url, user_rate=LIFTED_USER_RATE
    )
    os.environ.update(bench_env(server))
    import django

    django.setup()
    client = prepared_client()
    from core.gc_tuning import gc_tune_for_serving

    gc_tune_for_serving()  # as config.asgi and config.wsgi do once the application is loaded
    for scenario in args.scenarios:
        for _ in range(30):
            client.request(scenario)
        if not client.status.startswith("20"):
            sys.exit(f"{scenario}: the warm-up answered {client.status}; is the bench prepared?")
        if args.profile:
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for _ in range(args.requests):
                client.request(scenario)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(50)
            continue
        best = float("inf")
        for _ in range(args.repeat):
            started = time.process_time()
            for _ in range(args.requests):
                client.request(scenario)
            best = min(best, (time.process_time() - started) / args.requests)
        print(
            f"{scenario:8s} {best * 1000:.3f} ms CPU/request "
            f"(best of {args.repeat} x {args.requests})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
