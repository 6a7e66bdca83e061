"""Tenant resolution from the Host header, with errors in the API envelope."""

from django.conf import settings
from django.db import connection
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name, get_tenant_domain_model

from core.exceptions import error_response
from core.logging_context import bind_request_context

# Paths that answer even for a suspended organization (probes must see the process is up).
_ALWAYS_OPEN = ("/health/", "/metrics")


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
        try:
            domain = get_tenant_domain_model().objects.select_related("tenant").get(domain=hostname)
        except get_tenant_domain_model().DoesNotExist:
            return error_response(
                status=404,
                code="TENANT_NOT_FOUND",
                message="No organization is served at this host.",
                details={"host": hostname},
            )
        tenant = domain.tenant
        tenant.domain_url = hostname
        request.tenant = tenant
        connection.set_tenant(tenant)
        bind_request_context(organization=tenant.schema_name)
        if tenant.schema_name == get_public_schema_name():
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            return None
        if not tenant.is_active and not request.path_info.startswith(_ALWAYS_OPEN):
            return error_response(
                status=403,
                code="ORGANIZATION_SUSPENDED",
                message="This organization is suspended. Contact the platform operator.",
            )
        return None
