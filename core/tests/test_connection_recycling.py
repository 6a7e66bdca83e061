"""A database connection that has visited more organization schemas than
``DATABASE_MAX_SCHEMAS_PER_CONNECTION`` is closed at the end of its request, never during one
and never inside a transaction (core/db_backend/base.py; docs/scaling.md).

The requests go through Django's WSGI handler in this thread, as a server calls it, so that
``request_started``/``request_finished`` run ``close_old_connections`` on this thread's
connection. (Django's test client disconnects exactly that receiver, so it cannot show this.)
The data must be committed: ``live_db`` and the session-shared organizations, which are.
"""

import io
import sys

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, connection, transaction
from django.test import override_settings

from accounts.tokens import tokens_for_membership
from agents.models import Agent


def _backend_pid() -> int:
    """``SELECT pg_backend_pid()`` on this thread's connection, between requests (on the
    public path, which counts as no visit); opens a connection if the last one was closed."""
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


class Server:
    """Django's WSGI handler driven in this thread; records the backend pid of every query each
    request runs."""

    def __init__(self):
        self.handler = WSGIHandler()
        self.query_pids: list[int] = []

    def _record_pid(self, execute, sql, params, many, context):
        self.query_pids.append(connection.connection.info.backend_pid)
        return execute(sql, params, many, context)

    def get(self, org, path: str = "/api/v1/agents/") -> set[int]:
        """GET ``path`` on ``org``'s host as its staff member; the backend pids its queries ran
        on."""
        token = tokens_for_membership(user=org.users["staff"], organization=org.organization)
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": org.host,
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": org.host,
            "HTTP_ACCEPT": "application/json",
            "HTTP_AUTHORIZATION": f"Bearer {token.access_token}",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
        }
        status = []
        self.query_pids = []
        with connection.execute_wrapper(self._record_pid):
            result = self.handler(environ, lambda s, headers, exc_info=None: status.append(s))
            b"".join(result)
            result.close()  # request_finished, as the server sends it
        assert status[0].startswith("200"), status
        assert self.query_pids, "the request ran no query"
        return set(self.query_pids)


@pytest.fixture
def persistent_connection(live_db, monkeypatch):
    """This thread's connection, persistent (no CONN_MAX_AGE expiry during the test), fresh."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", None)
    connection.close()
    yield
    connection.close()  # the next test reconnects with the settings' CONN_MAX_AGE


@pytest.fixture
def three_orgs(_shared_orgs, committed_org):
    acme, globex = _shared_orgs
    return acme, globex, committed_org


@override_settings(DATABASE_MAX_SCHEMAS_PER_CONNECTION=2)
def test_the_connection_is_recycled_after_the_request_past_the_limit(
    persistent_connection, three_orgs
):
    acme, globex, third = three_orgs
    server = Server()
    first = _backend_pid()
    # Two organizations, in turn, several times: within the limit, one backend serves them all.
    for org in (acme, globex, acme, globex, acme):
        assert server.get(org) == {first}
        assert _backend_pid() == first
    assert not connection.schemas_over_limit()

    # The third schema: the request that crosses the limit runs whole on the same backend...
    assert server.get(third) == {first}
    # ...and its connection is closed once it has answered.
    assert connection.connection is None
    second = _backend_pid()
    assert second != first

    # A new connection starts counting again: two schemas fit, the third recycles it.
    for org in (third, acme, third, acme):
        assert server.get(org) == {second}
    assert _backend_pid() == second
    assert server.get(globex) == {second}
    assert _backend_pid() not in (first, second)


@override_settings(DATABASE_MAX_SCHEMAS_PER_CONNECTION=0)
def test_no_limit_keeps_the_connection(persistent_connection, three_orgs):
    server = Server()
    first = _backend_pid()
    for org in three_orgs * 2:
        assert server.get(org) == {first}
    assert _backend_pid() == first


@override_settings(DATABASE_MAX_SCHEMAS_PER_CONNECTION=2)
def test_the_public_schema_is_not_a_visit(persistent_connection, _shared_orgs):
    acme, globex = _shared_orgs
    server = Server()
    first = _backend_pid()  # on public
    for org in (acme, globex):
        assert server.get(org) == {first}  # each request also reads public (its host)
        assert _backend_pid() == first
    assert len(connection._schemas_visited) == 2


@override_settings(DATABASE_MAX_SCHEMAS_PER_CONNECTION=2)
def test_a_transaction_past_the_limit_ends_on_its_backend(persistent_connection, three_orgs):
    """Crossing the limit closes nothing by itself: a transaction (or a request) that visits a
    third schema runs to its end on one backend; the close waits for the next boundary."""
    first = _backend_pid()
    pids = []
    with transaction.atomic():
        for org in three_orgs:
            connection.set_tenant(org.organization)
            Agent.objects.count()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid(), txid_current()")
                pids.append(cursor.fetchone())
        assert connection.schemas_over_limit()
    assert {pid for pid, _txid in pids} == {first}
    assert len({txid for _pid, txid in pids}) == 1  # one transaction, committed whole
    assert connection.connection is not None
    # The next boundary (what request_started/request_finished run) recycles it.
    close_old_connections()
    assert connection.connection is None
    assert _backend_pid() != first
