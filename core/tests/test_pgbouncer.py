"""A real PgBouncer (Debian's ``pgbouncer``) in front of the test PostgreSQL: transaction pooling
is refused at connection time and by ``/ready/``; session pooling and a direct connection are
accepted (core/db_backend/pooling.py, docs/foundation.md)."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from rest_framework.test import APIClient

from core.db_backend.base import DatabaseWrapper
from core.db_backend.pooling import refuse_transaction_pooling, transaction_pooling_evidence
from core.tests.pgbouncer import NEEDS_PGBOUNCER, PGBOUNCER, free_port

pytestmark = NEEDS_PGBOUNCER


def _wait_port(port: int, proc, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pgbouncer exited:\n{log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("pgbouncer did not listen")


@pytest.fixture(scope="module")
def pgbouncers(django_db_setup):
    """Two private pgbouncers in front of the test database: {"transaction": port,
    "session": port}; stopped (only these) after the module."""
    db = connection.settings_dict
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    user, password = db["USER"], db.get("PASSWORD") or ""
    # pgbouncer will not run as root: it drops to nobody, who must read and write here.
    workdir = Path(tempfile.mkdtemp(prefix="cc-pgbouncer-"))
    workdir.chmod(0o777)
    (workdir / "users.txt").write_text(f'"{user}" "{password}"\n')
    procs, ports = [], {}
    try:
        for mode in ("transaction", "session"):
            listen = free_port()
            ini = workdir / f"{mode}.ini"
            log = workdir / f"{mode}.log"
            ini.write_text(
                f"[databases]\n* = host={host} port={port}\n"
                "[pgbouncer]\n"
                f"listen_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n"
                f"auth_type = trust\nauth_file = {workdir / 'users.txt'}\n"
                f"pool_mode = {mode}\ndefault_pool_size = 4\nmax_client_conn = 50\n"
                "ignore_startup_parameters = extra_float_digits,options\n"
                f"logfile = {log}\npidfile = {workdir / (mode + '.pid')}\n"
            )
            for path in workdir.iterdir():
                path.chmod(0o666)
            command = [PGBOUNCER, str(ini)]
            if os.geteuid() == 0:
                command[1:1] = ["-u", "nobody"]
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            procs.append(proc)
            _wait_port(listen, proc, log)
            ports[mode] = listen
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _params(port: int) -> dict:
    params = connection.get_connection_params()
    return {**params, "host": "127.0.0.1", "port": port}


@pytest.fixture
def through(monkeypatch):
    """``through(port)``: a Django connection (our backend) whose settings lead through the
    pgbouncer on ``port``, registered under its own alias (Django's connection signals look
    connections up by alias); closed and forgotten after the test."""
    made = []

    def make(port: int) -> DatabaseWrapper:
        alias = f"pgbouncer_{port}_{len(made)}"
        settings = {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": port}
        monkeypatch.setitem(connections.settings, alias, settings)
        made.append(alias)
        return connections[alias]

    yield make
    for alias in made:
        connections[alias].close()
        del connections[alias]


def test_transaction_pooling_is_detected_and_refused(live_db, pgbouncers, through):
    port = pgbouncers["transaction"]
    assert transaction_pooling_evidence(_params(port)) is not None
    wrapper = through(port)
    with pytest.raises(ImproperlyConfigured, match="pool_mode = session") as refused:
        wrapper.ensure_connection()
    assert "transaction-pooling proxy" in str(refused.value)
    assert wrapper.connection is None  # nothing was served through it
    # Every later connection of the process is refused too (the verdict is kept).
    with pytest.raises(ImproperlyConfigured):
        through(port).ensure_connection()


def test_session_pooling_and_a_direct_connection_are_accepted(live_db, pgbouncers, through):
    port = pgbouncers["session"]
    assert transaction_pooling_evidence(_params(port)) is None
    with through(port).cursor() as cursor:
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone()[0] == connection.settings_dict["NAME"]
    direct = connection.get_connection_params()
    assert transaction_pooling_evidence(direct) is None
    refuse_transaction_pooling(direct, cached=False)  # does not raise


def test_ready_is_503_behind_transaction_pooling(db, pgbouncers, monkeypatch, acme):
    client = APIClient(HTTP_HOST=acme.host)
    assert client.get("/ready/").status_code == 200
    # The running process's database settings now lead through the transaction pooler (its
    # open connection stays direct: /ready/ probes with fresh connections, uncached).
    monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
    monkeypatch.setitem(connection.settings_dict, "PORT", pgbouncers["transaction"])
    response = client.get("/ready/")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "NOT_READY"
    assert error["details"]["checks"]["database_pooling"] == "error: ImproperlyConfigured"
    monkeypatch.setitem(connection.settings_dict, "PORT", pgbouncers["session"])
    assert client.get("/ready/").status_code == 200
