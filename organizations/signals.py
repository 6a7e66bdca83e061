"""Receivers of the organizations app: the per-process lookups (``core.local_cache``) forget an
organization or a domain as soon as it changes, in every process; and CORS is decided per
organization."""

from corsheaders.signals import check_request_enabled
from django.core.exceptions import DisallowedHost
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from core.cors import CORS_PATH_PREFIX
from core.local_cache import local_caches_invalidate

from .middleware import TenantMiddleware, tenant_for_host
from .models import Domain, Organization


def _clear(**_kwargs) -> None:
    local_caches_invalidate()


for _model in (Organization, Domain):
    post_save.connect(_clear, sender=_model, dispatch_uid=f"local-cache-{_model.__name__}-save")
    post_delete.connect(_clear, sender=_model, dispatch_uid=f"local-cache-{_model.__name__}-del")


def _request_organization(request):
    tenant = getattr(request, "tenant", None)
    if tenant is not None:
        return tenant
    # CorsMiddleware runs before the tenant middleware (so that its error answers, such as a
    # suspended organization's 403, stay readable by the browser): resolve the host here, from
    # the same per-process cache.
    try:
        hostname = TenantMiddleware.hostname_from_request(request)
    except DisallowedHost:
        return None
    return tenant_for_host(hostname)


@receiver(check_request_enabled, dispatch_uid="core.cors.organization_origins")
def organization_allows_origin(sender, request, **kwargs) -> bool:
    """CORS on for an API path when the ``Origin`` is in the organization's
    ``cors_allowed_origins`` (``core.cors`` explains why a signal)."""
    origin = request.headers.get("Origin")
    if not origin or not request.path_info.startswith(CORS_PATH_PREFIX):
        return False
    organization = _request_organization(request)
    if organization is None or organization.schema_name == "public":
        return False
    return origin in (organization.cors_allowed_origins or ())
