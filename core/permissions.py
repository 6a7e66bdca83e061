"""The role matrix, enforced in one place.

Every tenant API view declares the minimum role per action in ``required_roles``; actions that
are not listed fall back to: reads need ``staff``, writes need ``manager``. A view can never
forget it: ``RolePermission`` is the default permission class and ``TenantViewSet`` sets it.
"""

from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.choices import Role, role_at_least


def required_role_for(view, request) -> str:
    mapping = getattr(view, "required_roles", {}) or {}
    action = getattr(view, "action", None) or request.method.lower()
    if action in mapping:
        return mapping[action]
    if request.method in SAFE_METHODS:
        return mapping.get("read", Role.STAFF)
    return mapping.get("write", Role.MANAGER)


class RolePermission(BasePermission):
    message = _("Your role in this organization does not allow this action.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        membership = getattr(user, "membership", None)
        if membership is None or membership.organization_id != connection.tenant.pk:
            return False
        return role_at_least(membership.role, required_role_for(view, request))
