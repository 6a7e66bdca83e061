"""Tenant resolution from the Host header, with errors in the API envelope."""

from django.conf import settings
from django.db import connection
from django.utils.translation import gettext as _
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name, get_tenant_domain_model

from core.exceptions import error_response
from core.local_cache import LocalCache
from core.locale import organization_language_activate
from core.logging_context import bind_request_context

_tenants_by_host = LocalCache("tenant-by-host")


def _load_tenant(hostname: str):
    domain = (
        get_tenant_domain_model().objects.select_related("tenant").filter(domain=hostname).first()
    )
    if domain is None:
        return None
    domain.tenant.domain_url = hostname
    return domain.tenant


def tenant_for_host(hostname: str):
    """The organization served at ``hostname`` (None if none), cached for a few seconds."""
    return _tenants_by_host.get_or_load(hostname, lambda: _load_tenant(hostname))


# Paths that answer even for a suspended organization (probes must see the process is up).
_ALWAYS_OPEN = ("/health/", "/metrics")
# What the owner needs to cancel a scheduled deletion: sign in, refresh, the cancel route itself
# (which checks the role: organizations.views.OrganizationDeletionView).
_OPEN_DURING_DELETION = (
    "/api/v1/auth/token/",
    "/api/v1/organization/deletion/",
)


class TenantMiddleware(TenantMainMiddleware):
    """Routes a request to its organization's schema.

    Unlike the stock middleware, an unknown host is a 404 in the error envelope (never the public
    schema), and a suspended organization answers 403 ``ORGANIZATION_SUSPENDED``.
    """

    def process_request(self, request):
        connection.set_schema_to_public()
        if settings.BENCH_FLOOR_ENABLED and request.path_info == settings.BENCH_FLOOR_PATH:
            # The benchmark floor: a bare view, no tenant lookup (see bench/README.md).
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            return None
        hostname = self.hostname_from_request(request)
        tenant = tenant_for_host(hostname)
        if tenant is None:
            return error_response(
                status=404,
                code="TENANT_NOT_FOUND",
                message=_("No organization is served at this host."),
                details={"host": hostname},
            )
        request.tenant = tenant
        connection.set_tenant(tenant)
        bind_request_context(organization=tenant.schema_name)
        if tenant.schema_name == get_public_schema_name():
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            return None
        # The platform host keeps LANGUAGE_CODE: its row's language is nobody's choice.
        organization_language_activate(request, tenant)
        refusal = tenant.access_refusal()
        if refusal is not None and not request.path_info.startswith(_ALWAYS_OPEN):
            code, message = refusal
            # During a scheduled deletion the owner can still sign in and cancel it.
            if code != "ORGANIZATION_DELETION_SCHEDULED" or not request.path_info.startswith(
                _OPEN_DURING_DELETION
            ):
                return error_response(status=403, code=code, message=message)
        return None
