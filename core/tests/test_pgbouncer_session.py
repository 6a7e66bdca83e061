"""PgBouncer in ``pool_mode = session``, the mode docs/scaling.md recommends, proven under load
(DESIGN 14; issue 18 item 5).

A private pgbouncer (Debian's package) sits in front of the test database; a real server process
(uvicorn, the production ASGI application) reaches PostgreSQL only through it; twelve client
threads interleave reads and writes of two organizations whose rows are told apart by content.
Two configurations are proven:

- ``released``: ``DATABASE_CONN_MAX_AGE=0``: each request gives its server session back at its
  end (pgbouncer resets it with ``DISCARD ALL``), so a pool of 3 server sessions serves 8 server
  threads and 12 clients; the rest wait inside pgbouncer, none fails;
- ``persistent``: ``DATABASE_CONN_MAX_AGE=60``: each server thread keeps its session, so the pool
  holds every thread's session plus the 2 that ``/ready/``'s pooling probe opens.

The refusal of transaction pooling is tested in test_pgbouncer.py.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest
from django.db import connection, connections

from accounts.tokens import tokens_for_membership
from core.tests.pgbouncer import NEEDS_PGBOUNCER, PGBOUNCER, free_port
from displays.tests.live import LiveServer
from organizations.models import Organization
from tasks.models import Task
from testing.factories import agent_make, category_make, task_make
from testing.orgs import make_org

pytestmark = [pytest.mark.slow, *NEEDS_PGBOUNCER]

CLIENT_THREADS = 12
ROUNDS = 40  # requests per client thread
# pgbouncer's database entries: the pool each configuration runs on.
RELEASED_POOL = 3  # default_pool_size: fewer server sessions than server threads and clients
PERSISTENT_THREADS = 4
PERSISTENT_POOL = PERSISTENT_THREADS + 2  # every thread's session + /ready/'s two probe sessions


@dataclass
class Bouncer:
    port: int
    user: str
    test_db: str

    def pools(self) -> dict[str, dict]:
        """``SHOW POOLS`` from pgbouncer's admin console, by database entry."""
        # The admin console speaks the simple query protocol only: a client-side cursor.
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname="pgbouncer",
            user=self.user,
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        ) as admin:
            cursor = admin.execute("SHOW POOLS")
            names = [column.name for column in cursor.description]
            return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def _upstream_host(db: dict) -> str:
    # `make test`'s embedded PostgreSQL listens on a unix socket (HOST empty, PGHOST its
    # directory): pgbouncer takes a directory as host just as libpq does.
    return db.get("HOST") or os.environ.get("PGHOST") or "127.0.0.1"


@pytest.fixture(scope="module")
def bouncer(django_db_setup):
    """A private pgbouncer in session mode, stopped (only it) after the module.

    Database entries: ``*`` (any database, pool of RELEASED_POOL), ``cc_persistent`` (the test
    database, PERSISTENT_POOL) and ``cc_single`` (the test database, one server session)."""
    db = connection.settings_dict
    host, port = _upstream_host(db), db.get("PORT") or 5432
    user, password = db["USER"], db.get("PASSWORD") or ""
    upstream = f"host={host} port={port}"
    # pgbouncer will not run as root: it drops to nobody, who must read and write here.
    workdir = Path(tempfile.mkdtemp(prefix="cc-pgbouncer-session-"))
    workdir.chmod(0o777)
    (workdir / "users.txt").write_text(f'"{user}" "{password}"\n')
    listen = free_port()
    ini, log = workdir / "session.ini", workdir / "session.log"
    ini.write_text(
        "[databases]\n"
        f"* = {upstream}\n"
        f"cc_persistent = {upstream} dbname={db['NAME']} pool_size={PERSISTENT_POOL}\n"
        f"cc_single = {upstream} dbname={db['NAME']} pool_size=1\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir / 'users.txt'}\nadmin_users = {user}\n"
        f"pool_mode = session\ndefault_pool_size = {RELEASED_POOL}\nmax_client_conn = 200\n"
        # The default, spelled out: what makes a reused server session safe (docs/scaling.md).
        "server_reset_query = DISCARD ALL\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {log}\npidfile = {workdir / 'session.pid'}\n"
    )
    for path in workdir.iterdir():
        path.chmod(0o666)
    command = [PGBOUNCER, str(ini)]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "nobody"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited:\n{log.read_text() if log.exists() else ''}")
            try:
                with socket.create_connection(("127.0.0.1", listen), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("pgbouncer did not listen") from None
                time.sleep(0.1)
        yield Bouncer(port=listen, user=user, test_db=db["NAME"])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Tenant:
    """One of the two organizations: every row it owns carries its marker."""

    slug: str
    host: str
    schema: str
    marker: str
    agent_id: int
    agent_name: str
    token: str
    seeded: int


def _tenant(letter: str, seeded: int) -> Tenant:
    org = make_org(f"pgb{letter}-{uuid.uuid4().hex[:6]}")
    marker = f"only-{letter}-{uuid.uuid4().hex[:4]}"
    staff = org.users["staff"]
    with org.active():
        category = category_make(name=f"{marker} kitchen")
        # Several agents in b: ids differ between the schemas as well as names.
        agents = [
            agent_make(name=f"{marker} dish {n}", category=category, price=Decimal(9))
            for n in range(1 if letter == "a" else 3)
        ]
        agent = agents[-1]
        for _ in range(seeded):
            task_make(user=staff, agents=[agent], customer_name=marker)
    token = tokens_for_membership(user=staff, organization=org.organization).access_token
    return Tenant(
        slug=org.organization.slug,
        host=org.host,
        schema=org.schema,
        marker=marker,
        agent_id=agent.pk,
        agent_name=agent.name,
        token=str(token),
        seeded=seeded,
    )


@pytest.fixture(scope="module")
def tenants(django_db_setup, django_db_blocker):
    """Two committed organizations with distinct task lists (5 and 8 tasks); dropped after."""
    made = []
    with django_db_blocker.unblock():
        try:
            made.append(_tenant("a", 5))
            made.append(_tenant("b", 8))
            yield made
        finally:
            connection.set_schema_to_public()
            for tenant in made:
                Organization.objects.get(slug=tenant.slug).delete(force_drop=True)


# --- a real server behind the session pooler, interleaved load from two organizations --------


def _drive(port: int, tenants: list[Tenant], bouncer: Bouncer, pool: str) -> tuple[list, dict]:
    """CLIENT_THREADS threads, ROUNDS requests each, alternating organizations request by
    request (and the threads start offset); pgbouncer's pool sampled meanwhile.

    Returns ``[(tenant, kind, status, json), ...]`` and the pool's peaks."""
    peaks = {"servers": 0, "cl_waiting": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            row = bouncer.pools().get(pool)
            if row:
                servers = sum(row[key] for key in row if key.startswith("sv_"))
                peaks["servers"] = max(peaks["servers"], servers)
                peaks["cl_waiting"] = max(peaks["cl_waiting"], row["cl_waiting"])
            time.sleep(0.02)

    barrier = threading.Barrier(CLIENT_THREADS)

    def client(index: int) -> list:
        out = []
        last_create = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            barrier.wait(timeout=30)
            for step in range(ROUNDS):
                tenant = tenants[(index + step) % 2]
                headers = {"Host": tenant.host, "Authorization": f"Bearer {tenant.token}"}
                kind = ("create", "tasks", "tasks", "catalog", "tasks")[step % 5]
                if kind == "create":
                    # Every third create of a tenant repeats its previous key and body: the
                    # replay path (a session advisory lock, then the stored answer).
                    repeat = step % 3 == 0 and tenant.slug in last_create
                    key, body = (
                        last_create[tenant.slug]
                        if repeat
                        else (
                            str(uuid.uuid4()),
                            {
                                "items": [{"agent_id": tenant.agent_id, "quantity": 1 + step}],
                                "customer_name": tenant.marker,
                            },
                        )
                    )
                    last_create[tenant.slug] = (key, body)
                    response = http.post(
                        "/api/v1/tasks/", json=body, headers={**headers, "Idempotency-Key": key}
                    )
                    kind = "replay" if repeat else "create"
                    out.append((tenant, kind, response.status_code, response.json(), key))
                    continue
                path = "/api/v1/tasks/?page_size=100" if kind == "tasks" else "/api/v1/agents/"
                response = http.get(path, headers=headers)
                out.append((tenant, kind, response.status_code, response.json(), None))
        return out

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as executor:
            futures = [executor.submit(client, index) for index in range(CLIENT_THREADS)]
            results = [result for future in futures for result in future.result()]
    finally:
        done.set()
        sampler.join()
    return results, peaks


def _foreign(tenant: Tenant, kind: str, body: dict, others: list[Tenant]) -> list[str]:
    """What in one answer belongs to another organization (or to nobody known)."""
    found = []
    if kind == "catalog":
        for agent in body["results"]:
            if not agent["name"].startswith(tenant.marker):
                found.append(agent["name"])
        return found
    tasks = body["results"] if kind == "tasks" else [body]
    for task in tasks:
        if task["customer_name"] != tenant.marker:
            found.append(task["customer_name"])
        found += [i["agent_name"] for i in task["items"] if i["agent_name"] != tenant.agent_name]
    return found


def _task_rows(tenant: Tenant) -> dict[int, str]:
    """Task id -> customer name, read directly from the tenant's schema."""
    connection.set_schema(tenant.schema)
    try:
        return dict(Task.objects.values_list("id", "customer_name"))
    finally:
        connection.set_schema_to_public()


@pytest.mark.parametrize(
    ("config", "database", "pool_size", "env"),
    [
        (
            "released",
            None,  # the test database through the ``*`` entry
            RELEASED_POOL,
            {"DATABASE_CONN_MAX_AGE": "0", "ASGI_HTTP_THREADS": "8"},
        ),
        (
            "persistent",
            "cc_persistent",
            PERSISTENT_POOL,
            {"DATABASE_CONN_MAX_AGE": "60", "ASGI_HTTP_THREADS": str(PERSISTENT_THREADS)},
        ),
    ],
)
def test_interleaved_organizations_through_session_pooling_never_see_each_other(
    live_db, tenants, bouncer, tmp_path, config, database, pool_size, env
):
    database = database or bouncer.test_db
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    url = f"postgres://{db['USER']}{password}@127.0.0.1:{bouncer.port}/{database}"
    before = {tenant.slug: _task_rows(tenant) for tenant in tenants}  # the module shares them
    server = LiveServer(free_port(), tmp_path, DATABASE_URL=url, **env).start()
    try:
        # The start check (core/db_backend/pooling.py) accepts session pooling: ready.
        ready = httpx.get(
            f"http://127.0.0.1:{server.port}/ready/", headers={"Host": tenants[0].host}
        )
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database_pooling"] == "ok"

        results, peaks = _drive(server.port, tenants, bouncer, database)
        # Once answered, requests hold no client connection unless they are persistent: the
        # response is closed, request_finished runs CONN_MAX_AGE (core/wsgi_close.py).
        time.sleep(0.5)
        after = bouncer.pools()[database]
    finally:
        server.stop()
    log = server.log_path.read_text()

    assert len(results) == CLIENT_THREADS * ROUNDS
    failed = [(t.slug, kind, status, body) for t, kind, status, body, _ in results if status >= 500]
    assert failed == [], (failed[:3], log[-3000:])
    expected = {"create": 201, "replay": 201, "tasks": 200, "catalog": 200}
    wrong = [
        (kind, status, body) for _, kind, status, body, _ in results if status != expected[kind]
    ]
    assert wrong == [], wrong[:3]

    # Not one row of the other organization in any answer.
    foreign = [
        (t.slug, kind, _foreign(t, kind, body, tenants))
        for t, kind, _, body, _ in results
        if _foreign(t, kind, body, tenants)
    ]
    assert foreign == [], foreign[:3]

    # Each list holds its own seeded tasks at least (creates only add).
    for tenant in tenants:
        counts = [b["count"] for t, kind, _, b, _ in results if t is tenant and kind == "tasks"]
        assert counts and min(counts) >= tenant.seeded

    # A replayed key answers with the task its first request created, in the same organization.
    first_by_key = {
        (t.slug, key): body["id"] for t, kind, _, body, key in results if kind == "create"
    }
    replays = [(t.slug, key, body["id"]) for t, kind, _, body, key in results if kind == "replay"]
    assert replays
    assert all(first_by_key[(slug, key)] == task_id for slug, key, task_id in replays)

    # What PostgreSQL holds: each schema has what it had plus its own creates, all its own.
    for tenant in tenants:
        created = {b["id"] for t, kind, _, b, _ in results if t is tenant and kind == "create"}
        rows = _task_rows(tenant)
        assert set(rows) == set(before[tenant.slug]) | created
        assert set(rows.values()) == {tenant.marker}

    # The pool never grew past its size; with requests releasing their sessions, clients did
    # queue inside pgbouncer (more concurrent requests than server sessions) and none failed.
    assert 0 < peaks["servers"] <= pool_size, peaks
    if config == "released":
        assert peaks["cl_waiting"] > 0, peaks
        assert (after["cl_active"], after["cl_waiting"]) == (0, 0), after
    else:
        assert after["cl_active"] <= PERSISTENT_THREADS and after["cl_waiting"] == 0, after


# --- prepared statements and a reused server session ------------------------------------------


@pytest.fixture
def through(monkeypatch):
    """``through(port, database)``: a Django connection (our backend) whose settings lead
    through pgbouncer, under its own alias; closed and forgotten after the test."""
    made = []

    def make(port: int, database: str):
        alias = f"pgbouncer_session_{database}_{len(made)}"
        settings = {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": port}
        settings["NAME"] = database
        monkeypatch.setitem(connections.settings, alias, settings)
        made.append(alias)
        return connections[alias]

    yield make
    for alias in made:
        connections[alias].close()
        del connections[alias]


PREPARED_SQL = "SELECT name FROM agents_agent WHERE name LIKE %s ORDER BY name"


def _prepared_names(wrapper, tenant: Tenant) -> list[str]:
    with wrapper.prepared_cursor() as cursor:
        cursor.execute(PREPARED_SQL, ["only-%"])
        return [row[0] for row in cursor.fetchall()]


def _session_state(wrapper) -> tuple[int, int]:
    """(server pid, prepared statements in the server session) seen through ``wrapper``."""
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), (SELECT count(*) FROM pg_prepared_statements)")
        return cursor.fetchone()


def test_prepared_statements_work_and_a_reused_server_session_starts_clean(
    live_db, tenants, bouncer, through, settings
):
    """Through ``cc_single`` (one server session for every client): a persistent client
    connection prepares its statement (psycopg, from the 6th run) and each run reads the tenant
    set at that moment; after it disconnects, the next client gets the *same* server session
    reset by ``DISCARD ALL``: no prepared statement, no advisory lock, the default search_path,
    so its own statements (psycopg names them ``_pg3_0``... again) prepare without a clash."""
    # The start probe needs two server sessions at once; this entry has one (docs/scaling.md:
    # a pool of at least 2 in production). Off for this connection only.
    settings.DATABASE_REFUSE_TRANSACTION_POOLING = False
    organizations = {t.slug: Organization.objects.get(slug=t.slug) for t in tenants}

    first = through(bouncer.port, "cc_single")
    for _ in range(4):
        for tenant in tenants:
            first.set_tenant(organizations[tenant.slug])
            names = _prepared_names(first, tenant)
            assert names and all(name.startswith(tenant.marker) for name in names)
    pid, prepared = _session_state(first)
    assert prepared == 1  # prepared once, re-planned by PostgreSQL at each search_path change
    with first.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(4242)")
    first.close()

    # Raw client: what the server session looks like when pgbouncer hands it on.
    with psycopg.connect(
        host="127.0.0.1", port=bouncer.port, dbname="cc_single", user=bouncer.user
    ) as raw:
        row = raw.execute(
            "SELECT pg_backend_pid(), current_setting('search_path'),"
            " (SELECT count(*) FROM pg_prepared_statements),"
            " (SELECT count(*) FROM pg_locks"
            "   WHERE locktype = 'advisory' AND pid = pg_backend_pid())"
        ).fetchone()
    assert row == (pid, '"$user", public', 0, 0)

    second = through(bouncer.port, "cc_single")
    for _ in range(4):
        for tenant in reversed(tenants):
            second.set_tenant(organizations[tenant.slug])
            names = _prepared_names(second, tenant)
            assert names and all(name.startswith(tenant.marker) for name in names)
    assert _session_state(second) == (pid, 1)
