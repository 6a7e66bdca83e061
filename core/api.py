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
    # Detail routes match only what the primary key can be, so ``/members/null,null/`` or an id
    # past bigint is a 404 from the URL resolver instead of a ValueError/DataError (500) in the
    # view. Set here so no router-registered viewset can forget it: 1-18 digits always fit a
    # PostgreSQL bigint. Viewsets keyed by a UUID use ``UUID_LOOKUP_REGEX`` instead.
    lookup_value_regex = "[0-9]{1,18}"
    UUID_LOOKUP_REGEX = "[0-9a-fA-F]{8}(?:-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}"


class TenantViewSet(TenantViewSetMixin, viewsets.GenericViewSet):
    pass


class TenantModelViewSet(TenantViewSetMixin, viewsets.ModelViewSet):
    pass
