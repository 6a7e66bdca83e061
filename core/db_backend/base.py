"""django-tenants' PostgreSQL backend without the redundant ``SET search_path`` per request.

django-tenants forgets the connection's search_path on every ``set_tenant`` (the tenant
middleware calls it at least once per request) and sends ``SET search_path`` again with the
next query: one extra round trip per request on a persistent connection that already has the
right path. Here the path the session really has is remembered, and kept when the new tenant
needs the same one. Whatever can change or undo it (a new connection, ``close``,
``rollback``, ``savepoint_rollback``) forgets it, so the next query sets it again.
"""

from django_tenants.postgresql_backend import base as tenant_base


class DatabaseWrapper(tenant_base.DatabaseWrapper):
    # The search_path this session has for certain (None: unknown, the next query sets it).
    _session_search_path = None

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

    def get_new_connection(self, conn_params):
        self._session_search_path = None
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
