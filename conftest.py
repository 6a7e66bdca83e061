"""Shared test fixtures (the builders and the test client are in ``testing/``).

Creating a tenant schema is the slow part of a test run, so two organizations (``acme`` and
``globex``) with one user per role are created once per session and shared; tests that need
committed data visible to other threads or processes use ``committed_org`` (a fresh, disposable
organization) with ``live_db``.
"""

import contextlib
import itertools
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from accounts.choices import Role
from accounts.models import Membership, User
from organizations.models import Organization
from testing.orgs import PASSWORD, Org, make_org

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, request):
    with django_db_blocker.unblock():
        if not connection.settings_dict["NAME"].startswith("test_"):
            # pytest-django creates the test database only when a collected test asks for it
            # by marker or the ``db`` fixture; a run of modules that reach it only through
            # ``live_db`` (servers, workers, sockets) would otherwise use the real database.
            from django.test.utils import setup_databases

            setup_databases(
                verbosity=0,
                interactive=False,
                aliases={"default"},
                keepdb=not request.config.getoption("create_db"),
            )
        call_command("platform_setup", verbosity=0, stdout=open("/dev/null", "w"))  # noqa: SIM115
    yield


@pytest.fixture(scope="session")
def _shared_orgs(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        # With --reuse-db the previous run's organizations are still there: start clean.
        for leftover in Organization.objects.filter(slug__in=["acme", "globex"]):
            leftover.delete(force_drop=True)
        User.objects.filter(email__regex=r"@(acme|globex|multi)\.test$").delete()
        acme = make_org("acme")
        globex = make_org("globex")
        # One person who belongs to both organizations (token binding tests).
        both = User.objects.create_user(email="both@multi.test", password=PASSWORD)
        Membership.objects.create(user=both, organization=acme.organization, role=Role.OWNER)
        Membership.objects.create(user=both, organization=globex.organization, role=Role.OWNER)
        acme.users["both"] = both
        globex.users["both"] = both
    return acme, globex


@pytest.fixture
def acme(_shared_orgs, db) -> Org:
    """Organization A (session-shared; each test's writes roll back). Its schema is the active
    one for the test body: read and write acme's data directly; requests through its clients
    leave the schema as they found it."""
    org = _shared_orgs[0]
    connection.set_tenant(org.organization)
    yield org
    connection.set_schema_to_public()


@pytest.fixture
def globex(_shared_orgs, db) -> Org:
    """Organization B: the 'other tenant' of every cross-tenant test. Never activated by the
    fixture: a test reads or writes it visibly, inside ``with globex.active():``."""
    yield _shared_orgs[1]
    connection.set_schema_to_public()


@pytest.fixture
def live_db(django_db_setup, django_db_blocker):
    """Database access with real commits (no wrapping transaction): for threads and processes."""
    with django_db_blocker.unblock():
        yield
        connection.set_schema_to_public()


@pytest.fixture
def committed_org(live_db):
    """A fresh organization whose data is really committed; dropped after the test. Its schema
    is the active one for the test body (as ``acme``'s)."""
    slug = f"t{next(_counter)}-{uuid.uuid4().hex[:6]}"
    org = make_org(slug)
    connection.set_tenant(org.organization)
    yield org
    connection.set_schema_to_public()
    Organization.objects.filter(pk=org.organization.pk).first().delete(force_drop=True)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Redis is shared by the suite: start every test without cached entries or counters."""
    from django_redis import get_redis_connection

    from core.local_cache import local_caches_clear

    # Tests that stop Redis manage it themselves.
    with contextlib.suppress(Exception):
        get_redis_connection("default").flushdb()
    # Rolled-back test transactions fire no signals: drop per-process lookups both ways.
    local_caches_clear()
    yield
    local_caches_clear()


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker process (solo pool) on the test database and the test broker.

    Module-scoped: shared by a module's tests, and gone before the next module, whose tests may
    start workers of their own (a lingering worker would steal their jobs). Yields the Popen;
    its log is in ``proc.log_path``.
    """
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from config.celery import app

    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(db),
        # A worker sends email into memory unless a test points it elsewhere (emlfile://...).
        "EMAIL_URL": os.environ.get("EMAIL_URL", "memorymail://"),
    }
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    bin_dir = Path(sys.executable).parent
    proc = subprocess.Popen(
        [
            str(bin_dir / "celery"),
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env=env,
        stdout=open(log_path, "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    proc.log_path = log_path
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if app.control.ping(timeout=1.0):
                break
        except Exception:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker died:\n{log_path.read_text()}")
    else:
        proc.kill()
        raise RuntimeError(f"celery worker did not answer a ping:\n{log_path.read_text()}")
    yield proc
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _database_url(db: dict) -> str:
    host = db.get("HOST") or ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}{port}/{db['NAME']}"
