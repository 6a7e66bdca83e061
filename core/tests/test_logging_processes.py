"""Every production process logs JSON lines with one set of keys, and a job carries the request
id of the request that started it (core.logging, core.logging_context).

Real processes with the production settings and the image's environment (``UVICORN_LOG_CONFIG``,
``CELERY_QUIET``): uvicorn (two workers, so the supervisor's own lines are seen too), a Celery
worker (prefork: the job runs in a child) and beat. One request enqueues a report job; then
every line each process printed, on stdout and stderr, is parsed.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from accounts.choices import Role
from accounts.tokens import tokens_for_membership
from conftest import _database_url
from core.logging import LOG_KEYS

ROOT = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent
LEVELS = {"debug", "info", "warning", "error", "critical"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_db(offset: int) -> str:
    # Production settings put cache, broker and results in REDIS_URL's database: use one the
    # test settings do not flush between tests (their channel-layer database).
    base, _, db = settings.REDIS_URL.rpartition("/")
    return f"{base}/{int(db or 0) + offset}"


class _Process:
    def __init__(self, name: str, cmd: list[str], env: dict, tmp_path: Path):
        self.name = name
        self.out = tmp_path / f"{name}.out"
        self.err = tmp_path / f"{name}.err"
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=open(self.out, "wb"),  # noqa: SIM115
            stderr=open(self.err, "wb"),  # noqa: SIM115
            start_new_session=True,
        )

    def lines(self) -> list[str]:
        text = self.out.read_text(errors="replace") + self.err.read_text(errors="replace")
        return [line for line in text.splitlines() if line.strip()]

    def records(self) -> list[dict]:
        records = []
        for line in self.lines():
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append({"_not_json": line})
        return records

    def wait_for(self, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.records():
                if "_not_json" not in record and predicate(record):
                    return record
            if self.proc.poll() is not None:
                break
            time.sleep(0.3)
        raise AssertionError(f"{self.name}: no line for {what}:\n" + "\n".join(self.lines()))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


@pytest.mark.slow
def test_web_worker_and_beat_print_only_json_with_one_key_set(committed_org, db, tmp_path):
    # ``db`` after ``committed_org`` (which is committed for the processes): pytest-django
    # creates the test database only for runs with a test that asks for ``db``.
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "log-test-" + uuid.uuid4().hex * 2,
        # Tokens are minted here, with the test settings' key.
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
        "DJANGO_ALLOWED_HOSTS": f".{settings.TENANT_DOMAIN_SUFFIX},127.0.0.1",
        "DATABASE_URL": _database_url(settings.DATABASES["default"]),
        # `make test`'s embedded PostgreSQL: a URL with no host, the socket directory in PGHOST.
        **({"PGHOST": os.environ["PGHOST"]} if os.environ.get("PGHOST") else {}),
        "REDIS_URL": _redis_db(2),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "INFO",
        # What the image sets (Dockerfile): uvicorn's own log config, no Celery banners.
        "UVICORN_LOG_CONFIG": str(ROOT / "config" / "uvicorn_logging.json"),
        "CELERY_QUIET": "1",
    }
    celery = [str(BIN / "celery"), "-A", "config"]
    processes = {}
    try:
        processes["worker"] = _Process(
            "worker",
            [
                *celery,
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--without-gossip",
                "--without-mingle",
            ],
            env,
            tmp_path,
        )
        processes["beat"] = _Process(
            "beat",
            # Celery's file scheduler with no entries: the database schedule platform_setup
            # wrote would have this beat send real jobs (reconciliation at minute 7, expiry every
            # minute) into the shared test organizations, under the other tests' feet.
            [
                *celery,
                "beat",
                "--loglevel",
                "INFO",
                "--scheduler",
                "celery.beat:PersistentScheduler",
                "-s",
                str(tmp_path / "beat-schedule"),
            ],
            env,
            tmp_path,
        )
        processes["web"] = _Process(
            "web",
            [
                str(BIN / "uvicorn"),
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
                "--lifespan",
                "off",
                "--no-access-log",
            ],
            env,
            tmp_path,
        )
        web = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            # TLS ends at the load balancer in production, which says so in this header.
            headers={"Host": committed_org.host, "X-Forwarded-Proto": "https"},
            timeout=10,
        )
        deadline = time.monotonic() + 40
        while True:
            try:
                if web.get("/health/").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "\n".join(processes["web"].lines())
            time.sleep(0.3)

        manager = committed_org.users[Role.MANAGER]
        access = tokens_for_membership(user=manager, organization=committed_org.organization)
        request_id = f"req-{uuid.uuid4().hex[:12]}"
        answer = web.post(
            "/api/v1/reports/daily/regenerate/",
            json={"date": (date.today() - timedelta(days=1)).isoformat()},
            headers={
                "Authorization": f"Bearer {access.access_token}",
                "X-Request-ID": request_id,
            },
        )
        assert answer.status_code == 202, answer.text
        assert answer.headers["X-Request-ID"] == request_id
        job_id = str(answer.json()["id"])

        done = processes["worker"].wait_for(
            lambda r: r["task_id"] == job_id and "succeeded" in r["event"], 45, "the job's end"
        )
        processes["beat"].wait_for(lambda r: r["logger"] == "celery.beat", 20, "beat's start")
    finally:
        for process in processes.values():
            process.stop()

    by_process = {name: process.records() for name, process in processes.items()}
    for name, records in by_process.items():
        assert records, f"{name} printed nothing"
        for record in records:
            assert "_not_json" not in record, f"{name} printed a line that is not JSON: {record}"
            assert set(LOG_KEYS) <= set(record), f"{name}: {record}"
            assert record["level"] in LEVELS, record
            assert datetime.fromisoformat(record["timestamp"]).utcoffset() == timedelta(0)
            assert isinstance(record["event"], str), record

    web_records = by_process["web"]
    # uvicorn's own lines (the supervisor's and each worker's), not only the application's.
    assert any(r["logger"].startswith("uvicorn") for r in web_records)
    (access,) = [r for r in web_records if r["request_id"] == request_id]
    assert access["event"] == "request"
    assert access["path"] == "/api/v1/reports/daily/regenerate/"
    assert access["status"] == 202
    assert access["organization"] == committed_org.schema
    assert access["user"] == manager.pk
    assert access["latency_ms"] >= 0

    # The job's lines (Celery's "succeeded" line included) carry the request's id and the
    # organization; Celery's "received" line, written before the job runs, names the job.
    job_lines = [r for r in by_process["worker"] if r["task_id"] == job_id]
    assert done in job_lines
    received = [r for r in job_lines if "received" in r["event"].lower()]
    assert received and received[0]["task_name"] == done["task_name"]
    running = [r for r in job_lines if r not in received]
    assert running
    for record in running:
        assert record["request_id"] == request_id, record
        assert record["organization"] == committed_org.schema, record
        assert record["task_name"] == "reports.generate_daily", record
    # Nothing else the worker or beat wrote borrowed the request's id.
    others = [r for name in ("worker", "beat") for r in by_process[name] if r not in job_lines]
    assert all(r["request_id"] in (None, request_id) for r in others)
    assert all(r["request_id"] is None for r in by_process["beat"])


def test_a_job_binds_its_context_and_gives_back_the_one_it_found(acme):
    """An eager job inside a request (Celery's real trace, signals included) sees the context
    its message carries and leaves the request's context as it was."""
    import structlog
    from celery.signals import task_prerun

    from core.logging_context import LOG_CONTEXT_HEADER, bind_request_context
    from core.tasks import schema_probe

    seen = {}

    def _capture(**_kwargs):
        seen.update(structlog.contextvars.get_contextvars())

    bind_request_context(request_id="outer-request", user=7, organization="public-ish")
    task_prerun.connect(_capture, weak=False, dispatch_uid="test-capture-log-context")
    try:
        result = schema_probe.apply(
            headers={
                LOG_CONTEXT_HEADER: {"request_id": "from-the-message", "user": 3},
                "_schema_name": acme.schema,
            }
        )
    finally:
        task_prerun.disconnect(dispatch_uid="test-capture-log-context")
    assert result.get()["schema"] == acme.schema
    assert seen["request_id"] == "from-the-message"
    assert seen["user"] == 3
    assert seen["organization"] == acme.schema
    assert seen["task_name"] == "core.schema_probe"
    assert seen["task_id"] == result.id
    assert structlog.contextvars.get_contextvars() == {
        "request_id": "outer-request",
        "user": 7,
        "organization": "public-ish",
    }
    structlog.contextvars.clear_contextvars()
