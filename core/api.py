"""The base viewset every tenant endpoint derives from (NetBox style).

It sets the authentication, the role permission and the throttles once, and gives ``get_object``
a 404 in the envelope for anything outside the current organization's schema (which is all a
tenant-scoped queryset can ever see).
"""

from rest_framework import viewsets

from .permissions import RolePermission


class TenantViewSetMixin:
    # Who may take which action is core.policy.POLICY, keyed by the router's basename + action.
    permission_classes = [RolePermission]


class TenantViewSet(TenantViewSetMixin, viewsets.GenericViewSet):
    pass


class TenantModelViewSet(TenantViewSetMixin, viewsets.ModelViewSet):
    pass
