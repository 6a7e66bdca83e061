"""Channels middleware: resolve the organization from the Host header, exactly like HTTP.

django-tenants' HTTP middleware does not run for WebSockets. This one looks the host up in
``organizations.Domain`` with the HTTP middleware's ``tenant_for_host`` and puts it in
``scope["tenant"]``; an unknown host, the platform domain or a suspended organization leaves
``scope["tenant_error"]`` set, and the consumer answers with an error message and a close code
(a close before ``accept`` would reach the browser as a bare HTTP 403, without the reason).
"""

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.db import connection
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import get_public_schema_name

from organizations.middleware import tenant_for_host

from .constants import CLOSE_FORBIDDEN, CLOSE_TENANT_NOT_FOUND


def scope_header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def hostname_of(host: str) -> str:
    """``acme.localhost:8000`` -> ``acme.localhost`` (IPv6 literals keep their brackets)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def _tenant_for_host(hostname: str):
    # The same lookup (and per-process cache) as HTTP requests, from the public schema.
    connection.set_schema_to_public()
    return tenant_for_host(hostname)


class TenantWebsocketMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        hostname = hostname_of(scope_header(scope, b"host"))
        tenant = await database_sync_to_async(_tenant_for_host)(hostname) if hostname else None
        scope["tenant"], scope["tenant_error"] = None, None
        if tenant is None or tenant.schema_name == get_public_schema_name():
            scope["tenant_error"] = (
                CLOSE_TENANT_NOT_FOUND,
                "TENANT_NOT_FOUND",
                _("No organization is served at this host."),
            )
        elif (refusal := tenant.access_refusal()) is not None:
            # Suspended or scheduled for deletion: the same code and message as HTTP.
            scope["tenant_error"] = (CLOSE_FORBIDDEN, *refusal)
        else:
            scope["tenant"] = tenant
        return await super().__call__(scope, receive, send)
