"""core.db_backend: ``SET search_path`` only when the session does not already have the path.

What must hold whatever the optimization: every query runs on the schema of the tenant set on
the connection (checked by reading rows that exist in one organization only). What it buys:
no ``SET`` when ``set_tenant`` is called again for the path the session already has, as the
tenant middleware does on every request.
"""

import os
import subprocess
import sys

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils.crypto import get_random_string

from agents.models import AgentCategory
from organizations.models import Organization

URL = "/api/v1/agents/"


class Boom(Exception):
    pass


def search_path_sets(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SET ")]


def category_names() -> set[str]:
    return set(AgentCategory.objects.values_list("name", flat=True))


def session_search_path() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        return cursor.fetchone()[0]


def first_schema(path: str) -> str:
    return path.split(",")[0].strip('" ')


def raw_search_path() -> str:
    """The session's path read on the driver's connection: no ``SET`` goes before it."""
    with connection.connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        return cursor.fetchone()[0]


@pytest.fixture
def marked(acme, globex):
    """One category in each organization, with a name that exists nowhere else."""
    marks = {}
    for org in (acme, globex):
        org.activate()
        marks[org.schema] = f"only-in-{org.schema}-{get_random_string(8)}"
        AgentCategory.objects.create(name=marks[org.schema])
    return marks


def test_same_tenant_again_sends_no_set(acme, marked):
    acme.activate()
    assert marked[acme.schema] in category_names()
    with CaptureQueriesContext(connection) as ctx:
        acme.activate()
        names = category_names()
    assert search_path_sets(ctx) == []
    assert len(ctx.captured_queries) == 1  # only the SELECT
    assert marked[acme.schema] in names
    # The session really is on acme's schema (first in the path).
    assert first_schema(session_search_path()) == acme.schema


def test_switching_tenant_sets_the_path_once_and_reads_the_other_schema(acme, globex, marked):
    acme.activate()
    category_names()
    with CaptureQueriesContext(connection) as ctx:
        globex.activate()
        globex_names = category_names()
        globex_again = category_names()  # same tenant, next query: no second SET
    sets = search_path_sets(ctx)
    assert len(sets) == 1 and f'"{globex.schema}"' in sets[0], sets
    assert marked[globex.schema] in globex_names and marked[acme.schema] not in globex_names
    assert globex_again == globex_names

    # Back and forth several times: each switch sets the path, each read sees its own rows.
    for org, other in [(acme, globex), (globex, acme), (acme, globex), (globex, acme)]:
        with CaptureQueriesContext(connection) as ctx:
            org.activate()
            names = category_names()
            org.activate()  # repeated: nothing more
            assert category_names() == names
        sets = search_path_sets(ctx)
        assert len(sets) == 1 and f'"{org.schema}"' in sets[0], sets
        assert marked[org.schema] in names
        assert marked[other.schema] not in names


def test_public_in_between_with_a_query_sets_the_path_again(acme, marked):
    acme.activate()
    category_names()
    with CaptureQueriesContext(connection) as ctx:
        connection.set_schema_to_public()
        assert Organization.objects.filter(schema_name=acme.schema).exists()
        acme.activate()
        names = category_names()
    sets = search_path_sets(ctx)
    assert len(sets) == 2, sets
    assert sets[0].endswith('"public"') and f'"{acme.schema}"' in sets[1]
    assert marked[acme.schema] in names


def test_public_in_between_without_a_query_keeps_the_session_path(acme, marked):
    """What the tenant middleware does on every request (public, then the host's tenant): the
    session never left acme's path, so there is nothing to set."""
    acme.activate()
    category_names()
    with CaptureQueriesContext(connection) as ctx:
        connection.set_schema_to_public()
        acme.activate()
        names = category_names()
    assert search_path_sets(ctx) == []
    assert marked[acme.schema] in names


def test_public_alone_after_a_tenant_sets_the_path(acme, marked):
    acme.activate()
    category_names()
    with CaptureQueriesContext(connection) as ctx:
        connection.set_schema_to_public()
        assert session_search_path() == "public"
    assert len(search_path_sets(ctx)) == 1


def _statements_after(sqls: list[str], prefix: str) -> list[str]:
    index = next(i for i, sql in enumerate(sqls) if sql.startswith(prefix))
    return sqls[index + 1 :]


def test_rolled_back_savepoint_sets_the_path_again(acme, marked):
    acme.activate()
    category_names()
    with CaptureQueriesContext(connection) as ctx:
        with pytest.raises(Boom), transaction.atomic():  # a savepoint in the test transaction
            AgentCategory.objects.create(name="rolled back")
            raise Boom
        acme.activate()
        names = category_names()
    sqls = [q["sql"] for q in ctx.captured_queries]
    # Before the rollback the path was trusted; right after it, it is set again before anything
    # else runs (Django releases the savepoint next, and that statement carries the SET).
    after = _statements_after(sqls, "ROLLBACK TO SAVEPOINT")
    assert after[0] == f'SET search_path = "{acme.schema}","public"', sqls
    assert len(search_path_sets(ctx)) == 1, sqls
    assert marked[acme.schema] in names and "rolled back" not in names


def test_tenant_switch_rolled_back_with_a_savepoint_is_set_again(acme, globex, marked):
    """A ``SET`` to globex issued after a savepoint is undone by ``ROLLBACK TO SAVEPOINT``
    (the session is back on acme's path): it must be sent again before the next statement."""
    acme.activate()
    category_names()
    with CaptureQueriesContext(connection) as ctx:
        with pytest.raises(Boom), transaction.atomic():  # SAVEPOINT on acme's path
            globex.activate()
            assert marked[globex.schema] in category_names()  # SET globex after the savepoint
            raise Boom
        globex.activate()
        names = category_names()
    sqls = [q["sql"] for q in ctx.captured_queries]
    after = _statements_after(sqls, "ROLLBACK TO SAVEPOINT")
    assert after[0] == f'SET search_path = "{globex.schema}","public"', sqls
    assert marked[globex.schema] in names and marked[acme.schema] not in names
    assert first_schema(session_search_path()) == globex.schema


def test_manual_savepoint_rollback_then_same_tenant_reads_that_tenant(acme, globex, marked):
    """``transaction.savepoint_rollback()`` (no RELEASE after it, unlike ``atomic``) reverts a
    ``SET`` to globex made after the savepoint: the session is on acme's path again. Activating
    globex once more must set it, or globex's queries read acme's tables."""
    acme.activate()
    category_names()
    sid = transaction.savepoint()  # on acme's path
    globex.activate()
    assert marked[globex.schema] in category_names()  # SET globex, after the savepoint
    transaction.savepoint_rollback(sid)
    assert first_schema(raw_search_path()) == acme.schema  # PostgreSQL reverted the SET
    globex.activate()
    names = category_names()
    assert connection.schema_name == globex.schema
    assert marked[globex.schema] in names and marked[acme.schema] not in names


def test_rolled_back_transaction_is_not_trusted(committed_org):
    """A real transaction (no test wrapper): the ``SET`` issued in it is rolled back with it."""
    connection.set_schema_to_public()
    assert session_search_path() == "public"
    with pytest.raises(Boom), transaction.atomic():
        committed_org.activate()
        AgentCategory.objects.create(name="never committed")
        raise Boom
    # ROLLBACK reverted the SET: the session is on public again.
    assert raw_search_path() == "public"
    with CaptureQueriesContext(connection) as ctx:
        committed_org.activate()
        names = category_names()
    sets = search_path_sets(ctx)
    assert len(sets) == 1 and f'"{committed_org.schema}"' in sets[0], sets
    assert "never committed" not in names
    assert first_schema(session_search_path()) == committed_org.schema


def test_closed_connection_sets_the_path_on_the_new_one(committed_org):
    committed_org.activate()
    category_names()
    connection.close()
    with CaptureQueriesContext(connection) as ctx:
        committed_org.activate()
        names = category_names()
    sets = search_path_sets(ctx)
    assert len(sets) == 1 and f'"{committed_org.schema}"' in sets[0], sets
    assert names == set()


# --- per request -----------------------------------------------------------------------------


@pytest.fixture
def cached_lookups(settings):
    # Host and membership lookups cached per process, as in production (off in test settings):
    # otherwise every request queries the public schema for the host and must set it.
    settings.LOCAL_CACHE_SECONDS = 60
    return settings


def test_consecutive_requests_on_one_org_send_no_set(acme, globex, marked, cached_lookups):
    from django_redis import get_redis_connection

    # Plain clients: the SETs between requests are the subject, none restored in between.
    client = acme.client("staff", restore_schema=False)
    first = client.get(URL)
    assert first.status_code == 200
    # Drop the cached catalog page: the next request has to read PostgreSQL.
    get_redis_connection("default").flushdb()
    with CaptureQueriesContext(connection) as ctx:
        second = client.get(URL)
    assert second.status_code == 200
    assert search_path_sets(ctx) == [], [q["sql"] for q in ctx.captured_queries]
    assert any("agents_agent" in q["sql"] for q in ctx.captured_queries)
    assert second.content == first.content

    # A request for another organization on the same connection sets its path, once.
    with CaptureQueriesContext(connection) as ctx:
        response = globex.client("staff", restore_schema=False).get("/api/v1/agent-categories/")
    assert response.status_code == 200
    # First request for globex's host: its lookup runs on public (then cached per process).
    assert search_path_sets(ctx) == [
        'SET search_path = "public"',
        f'SET search_path = "{globex.schema}","public"',
    ]
    names = {row["name"] for row in response.json()["results"]}
    assert marked[globex.schema] in names and marked[acme.schema] not in names

    # And acme's next request sets acme's again and reads acme's rows.
    get_redis_connection("default").flushdb()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/api/v1/agent-categories/")
    sets = search_path_sets(ctx)
    assert len(sets) == 1 and f'"{acme.schema}"' in sets[0], sets
    names = {row["name"] for row in response.json()["results"]}
    assert marked[acme.schema] in names and marked[globex.schema] not in names


# --- prepared_cursor: server-side binding, prepared after a few runs ---------------------------


PREPARED_SQL = "SELECT name FROM agents_agentcategory WHERE name = ANY(%s)"


def prepared_names(names: list[str]) -> set[str]:
    with connection.prepared_cursor() as cursor:
        cursor.execute(PREPARED_SQL, [names])
        return {row[0] for row in cursor.fetchall()}


def test_prepared_statement_follows_the_tenant_switch(acme, globex, marked):
    """The statement is prepared once per connection (psycopg prepares from its 6th run), yet
    each run reads the schema of the tenant set at that moment: PostgreSQL re-plans a prepared
    statement whose search_path changed."""
    both = list(marked.values())
    for _ in range(8):
        for org in (acme, globex, acme):
            org.activate()
            assert prepared_names(both) == {marked[org.schema]}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["SELECT name FROM agents_agentcategory%"],
        )
        assert cursor.fetchone()[0] == 1


def test_prepared_cursor_queries_are_counted_and_plain_cursors_stay_client_bound(acme, marked):
    acme.activate()
    with CaptureQueriesContext(connection) as ctx:
        assert prepared_names([marked[acme.schema]]) == {marked[acme.schema]}
    assert [q["sql"] for q in ctx.captured_queries if "agents_agentcategory" in q["sql"]]
    with connection.cursor() as cursor:
        assert type(cursor.cursor).__name__ == "Cursor"  # Django's client-binding cursor
    with connection.prepared_cursor() as cursor:
        assert type(cursor.cursor).__name__ == "ServerBindingCursor"


@pytest.mark.parametrize(("value", "expected"), [(None, "5"), ("2", "2"), ("off", "None")])
def test_prepare_threshold_setting(value, expected):
    """``DATABASE_PREPARE_THRESHOLD`` reaches psycopg (read at settings import: a fresh
    interpreter per value)."""
    env = {key: val for key, val in os.environ.items() if key != "DATABASE_PREPARE_THRESHOLD"}
    if value is not None:
        env["DATABASE_PREPARE_THRESHOLD"] = value
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS']['prepare_threshold'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == expected
