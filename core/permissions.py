"""The role matrix, enforced in one place: ``RolePermission`` reads ``core.policy.POLICY``.

It is the default permission class and ``TenantViewSet`` sets it, so every API view of an
organization's host is checked against the one table. Views declare nothing: a route or an
action the table does not name is refused (and logged), never let through by a default.
"""

from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import BasePermission

from . import policy


def policy_key(view, request) -> tuple[str | None, str | None]:
    """The table key of this request: (basename, action) for a viewset, else (URL name,
    method)."""
    basename = getattr(view, "basename", None)
    if basename is not None:
        return basename, getattr(view, "action", None)
    match = getattr(request, "resolver_match", None)
    return (match.url_name if match else None), request.method.lower()


def principal_role(request) -> str | None:
    """The caller's role in *this* organization (``policy.SCREEN`` for a display screen)."""
    user = request.user
    if not (user and user.is_authenticated):
        return None
    membership = getattr(user, "membership", None)
    if membership is None or membership.organization_id != connection.tenant.pk:
        return None
    return membership.role


class RolePermission(BasePermission):
    message = _("Your role in this organization does not allow this action.")

    def has_permission(self, request, view) -> bool:
        resource, action = policy_key(view, request)
        rule = policy.rule_for(resource, action)
        if rule is not None and rule.role == policy.PUBLIC:
            return True
        if not (request.user and request.user.is_authenticated):
            return False  # 401: the anonymous never learn more about a route than that
        method = request.method.lower()
        if method not in view.http_method_names or getattr(view, method, None) is None:
            # A route without this method (PUT where only PATCH exists): nothing would run, so
            # say so instead of a 403 that reads like a missing role.
            raise MethodNotAllowed(request.method)
        return policy.permits(resource, action, role=principal_role(request))
