"""django-tenants' PostgreSQL backend without the redundant ``SET search_path`` per request.

django-tenants forgets the connection's search_path on every ``set_tenant`` (the tenant
middleware calls it at least once per request) and sends ``SET search_path`` again with the
next query: one extra round trip per request on a persistent connection that already has the
right path. Here the path the session really has is remembered, and kept when the new tenant
needs the same one. Whatever can change or undo it (a new connection, ``close``,
``rollback``, ``savepoint_rollback``) forgets it, so the next query sets it again.

A connection also counts the distinct organization schemas it has set its ``search_path`` to
and, past ``DATABASE_MAX_SCHEMAS_PER_CONNECTION``, closes at the end of the request or job
(``close_if_unusable_or_obsolete``, which Django runs on request_started/request_finished and
Celery's Django fixup and Channels' ``database_sync_to_async`` between units of work), never
inside a transaction: PostgreSQL's per-backend catalog caches grow with every schema a session
reads and never shrink (docs/performance.md, "PostgreSQL backend memory across schemas").

It also offers ``prepared_cursor()`` for the few fixed statements of the hot paths (task create),
and refuses to connect through a transaction-pooling proxy (``pooling.py``).
"""

from django.conf import settings
from django.db.backends.postgresql.base import ServerBindingCursor
from django_tenants.postgresql_backend import base as tenant_base
from django_tenants.utils import get_public_schema_name

from .pooling import refuse_transaction_pooling


class DatabaseWrapper(tenant_base.DatabaseWrapper):
    # The search_path this session has for certain (None: unknown, the next query sets it).
    _session_search_path = None
    # True while prepared_cursor() opens its cursor.
    _server_binding = False
    # Organization schemas this session has had in its search_path (up to the limit + 1).
    _schemas_visited: frozenset | set = frozenset()

    def prepared_cursor(self):
        """A cursor that binds its parameters server side, so that PostgreSQL prepares a
        statement the connection runs often (psycopg's ``prepare_threshold``, set from
        ``DATABASE_PREPARE_THRESHOLD``: from the 6th run by default).

        Django's cursors bind on the client: every run sends the statement with its values
        quoted in, and PostgreSQL parses and plans it again. For a fixed statement run on every
        request that costs more CPU, on both sides, than the statement itself. Only for plain
        statements with ``%s`` placeholders (no ``%(name)s``, no literal ``%``); queries still go
        through Django's cursor wrapper (query logging, ``assertNumQueries``), and the tenant's
        ``search_path`` is handled as for any cursor (PostgreSQL re-plans a prepared statement
        when the path changes). Prepared statements live in the server session: PostgreSQL
        directly or through a session-pooling proxy only (transaction pooling is refused, see
        ``pooling.py``).
        """
        self._server_binding = True
        try:
            return self.cursor()
        finally:
            self._server_binding = False

    def create_cursor(self, name=None):
        if name is None and self._server_binding:
            factory = self.connection.cursor_factory
            self.connection.cursor_factory = ServerBindingCursor
            try:
                return super().create_cursor()
            finally:
                self.connection.cursor_factory = factory
        return super().create_cursor(name)

    def set_tenant(self, tenant, include_public=True):
        super().set_tenant(tenant, include_public)
        session = self._session_search_path
        if session and self.connection is not None and self._get_cursor_search_paths() == session:
            self.search_path_set_schemas = session

    def _handle_search_path(self, cursor=None):
        before = self.search_path_set_schemas
        super()._handle_search_path(cursor)
        if before is None:
            # This call sent the SET (or failed to): the session has exactly this path now. When
            # the parent skipped it (path believed set), the session is left as it was known.
            self._session_search_path = self.search_path_set_schemas
            if self.search_path_set_schemas is not None:
                self._count_schema(self.schema_name)

    def _count_schema(self, schema_name: str) -> None:
        limit = getattr(settings, "DATABASE_MAX_SCHEMAS_PER_CONNECTION", 0)
        visited = self._schemas_visited
        if limit <= 0 or len(visited) > limit or schema_name in visited:
            return
        if schema_name == get_public_schema_name():
            return  # every connection reads the shared tables: not a visit
        if not isinstance(visited, set):
            visited = self._schemas_visited = set()
        visited.add(schema_name)

    def schemas_over_limit(self) -> bool:
        """True once this session has visited more organization schemas than
        ``DATABASE_MAX_SCHEMAS_PER_CONNECTION`` allows (0: no limit)."""
        limit = getattr(settings, "DATABASE_MAX_SCHEMAS_PER_CONNECTION", 0)
        return 0 < limit < len(self._schemas_visited)

    def close_if_unusable_or_obsolete(self):
        # Django runs this before and after each request (close_old_connections), Channels
        # around each database_sync_to_async call: between units of work, never inside one.
        # A connection still inside a transaction there is dropped by Django itself (autocommit
        # not restored), so the count never cuts a transaction that Django would have kept.
        if self.connection is not None and self.schemas_over_limit():
            self.close()
            return
        super().close_if_unusable_or_obsolete()

    def get_new_connection(self, conn_params):
        self._session_search_path = None
        self._schemas_visited = frozenset()
        if getattr(settings, "DATABASE_REFUSE_TRANSACTION_POOLING", True):
            # Once per process and server, before the first connection is used: behind a
            # transaction pooler every per-session assumption above is wrong (pooling.py).
            refuse_transaction_pooling(conn_params)
        return super().get_new_connection(conn_params)

    # Forgotten *after* the parent ran: a rollback or a savepoint rollback undoes a SET made in
    # the (sub)transaction, and the parent's own statements may pass through _handle_search_path.
    def close(self):
        try:
            super().close()
        finally:
            self._session_search_path = None

    def rollback(self):
        try:
            super().rollback()
        finally:
            self._session_search_path = None

    def savepoint_rollback(self, sid):
        try:
            super().savepoint_rollback(sid)
        finally:
            self._session_search_path = None
