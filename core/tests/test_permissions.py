"""The role matrix mechanism: one permission class, minimum role per action."""

import pytest
from rest_framework.test import APIRequestFactory

from accounts.choices import Role
from core.permissions import RolePermission, required_role_for


class FakeView:
    def __init__(self, action, required_roles=None):
        self.action = action
        self.required_roles = required_roles or {}


@pytest.mark.parametrize(
    ("method", "action", "roles", "expected"),
    [
        ("GET", "list", {}, Role.STAFF),
        ("POST", "create", {}, Role.MANAGER),
        ("DELETE", "destroy", {}, Role.MANAGER),
        ("POST", "bump", {"bump": Role.STAFF}, Role.STAFF),
        ("GET", "list", {"read": Role.OWNER}, Role.OWNER),
        ("PATCH", "partial_update", {"write": Role.OWNER}, Role.OWNER),
    ],
)
def test_required_role_defaults_and_overrides(method, action, roles, expected):
    request = getattr(APIRequestFactory(), method.lower())("/")
    assert required_role_for(FakeView(action, roles), request) == expected


@pytest.mark.parametrize(
    ("role", "minimum", "allowed"),
    [
        ("staff", Role.STAFF, True),
        ("staff", Role.MANAGER, False),
        ("manager", Role.MANAGER, True),
        ("manager", Role.OWNER, False),
        ("owner", Role.MANAGER, True),
    ],
)
def test_role_permission_uses_the_membership_of_this_org(acme, role, minimum, allowed):
    from django.db import connection

    acme.activate()
    user = acme.users[role]
    user.membership = user.memberships.get(organization=acme.organization)
    request = APIRequestFactory().post("/")
    request.user = user
    view = FakeView("create", {"create": minimum})
    assert RolePermission().has_permission(request, view) is allowed
    # A membership of another organization never counts here.
    user.membership.organization_id = -1
    assert RolePermission().has_permission(request, view) is False
    connection.set_schema_to_public()
