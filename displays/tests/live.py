"""Real server processes for the realtime tests (uvicorn, the production ASGI app)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from core.probes import wait_http

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def database_env() -> dict[str, str]:
    """DATABASE_URL (and PGHOST) reaching the test process's own database from a subprocess.

    The embedded PostgreSQL of `make test` listens on a unix socket only: its URL names no host
    and libpq takes the socket directory from PGHOST. A URL cannot carry that directory (the
    settings' URL parser lowercases it), so an empty or path HOST travels as PGHOST, never as a
    guessed 127.0.0.1.
    """
    db = settings.DATABASES["default"]
    host = db.get("HOST") or ""
    env = {}
    if host.startswith("/"):
        env["PGHOST"] = host
        host = ""
    elif not host and os.environ.get("PGHOST"):
        env["PGHOST"] = os.environ["PGHOST"]
    port = f":{db['PORT']}" if db.get("PORT") else ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env["DATABASE_URL"] = f"postgres://{db['USER']}{password}@{host}{port}/{db['NAME']}"
    return env


def server_env(**extra) -> dict:
    """The test process's own database (test_<name>) and Redis numbers."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        **database_env(),
        "DATABASE_CONN_MAX_AGE": "0",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


class LiveServer:
    """One uvicorn process serving HTTP + WebSocket on ``port``; restartable."""

    def __init__(self, port: int, log_dir: Path, **env):
        self.port = port
        self.log_path = log_dir / f"server-{port}.log"
        self.env = server_env(**env)
        self.proc = None

    def start(self) -> "LiveServer":
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                str(BIN / "uvicorn"),
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--lifespan",
                "off",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_http(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError(self.log_path.read_text()[-3000:]) from None
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None


class LiveWorker:
    """A real Celery worker (solo pool) for one test module, stopped at its end.

    Not the session-wide ``celery_worker_process``: a worker left running for the rest of the
    session would take jobs meant for other tests' own workers.
    """

    def __init__(self, log_dir: Path):
        self.log_path = log_dir / "celery-worker.log"
        self.hostname = f"displays-{os.getpid()}@{socket.gethostname()}"
        self.proc = None

    def start(self) -> "LiveWorker":
        from config.celery import app

        self.proc = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                self.hostname,
            ],
            cwd=ROOT,
            env=server_env(),
            stdout=open(self.log_path, "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log_path.read_text()[-3000:])
            try:
                if app.control.ping(destination=[self.hostname], timeout=1.0):
                    return self
            except Exception:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("celery worker did not answer a ping")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None
