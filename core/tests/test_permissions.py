"""The role matrix mechanism: one table (core.policy), read by one permission class.

The whole matrix, route by route, is walked in test_policy_matrix.py; these tests pin the rules
the table is read with."""

import logging

import pytest
from django.db import connection
from rest_framework.test import APIRequestFactory

from accounts.choices import Role
from core import policy
from core.permissions import RolePermission, policy_key


class FakeViewSet:
    """What RolePermission reads of a router-registered viewset."""

    http_method_names = ["get", "post", "patch", "delete", "options"]

    def __init__(self, basename, action, method="post"):
        self.basename, self.action = basename, action
        setattr(self, method, lambda *a, **k: None)


@pytest.mark.parametrize(
    ("resource", "action", "role", "allowed"),
    [
        ("task", "create", Role.STAFF, True),
        ("task", "cancel", Role.STAFF, False),
        ("task", "cancel", Role.MANAGER, True),
        ("member", "partial_update", Role.MANAGER, False),
        ("member", "partial_update", Role.OWNER, True),
        ("organization-settings", "get", Role.STAFF, True),
        ("organization-settings", "patch", Role.MANAGER, False),
        ("reports-dashboard", "get", Role.STAFF, False),
        # A screen has no member role: only the entries opened to screens.
        ("realtime-ticket", "post", policy.SCREEN, True),
        ("ws", "bump", policy.SCREEN, True),
        ("task", "list", policy.SCREEN, False),
        ("screen", "list", policy.SCREEN, False),
        # Public entries need no principal at all.
        ("auth-token", "post", None, True),
        ("auth-me", "get", None, False),
    ],
)
def test_permits_reads_the_table(resource, action, role, allowed):
    assert policy.permits(resource, action, role=role) is allowed


def test_an_action_without_an_entry_is_refused_and_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="core.policy"):
        assert policy.permits("task", "delete_everything", role=Role.OWNER) is False
        assert policy.permits("no-such-route", "get", role=Role.OWNER) is False
        assert policy.permits(None, None, role=Role.OWNER) is False
    refused = [r for r in caplog.records if r.getMessage() == "no role policy entry: refused"]
    assert [(r.policy_resource, r.policy_action) for r in refused] == [
        ("task", "delete_everything"),
        ("no-such-route", "get"),
        (None, None),
    ]


def test_head_reads_as_get_and_options_as_the_most_open_action_of_the_route():
    assert policy.rule_for("organization-settings", "head") == policy.STAFF
    # members: every action is the owner's, so asking what the route accepts is too.
    assert policy.rule_for("member", "metadata") == policy.OWNER
    # tasks: staff may create and read, so staff may ask.
    assert policy.rule_for("task", "metadata") == policy.STAFF
    assert policy.rule_for("realtime-ticket", "options") == policy.STAFF_OR_SCREEN
    assert policy.rule_for("no-such-route", "options") is None


def test_the_table_uses_only_known_roles_and_keys():
    for (resource, action), rule in policy.POLICY.items():
        assert resource and action, (resource, action)
        assert rule.role in (policy.PUBLIC, *Role.values), (resource, action, rule)
        # Public entries are open to everyone: a screen flag on them would mean nothing.
        assert not (rule.role == policy.PUBLIC and rule.screen), (resource, action)


def test_policy_key_of_a_viewset_and_of_a_plain_view():
    rf = APIRequestFactory()
    request = rf.post("/")
    assert policy_key(FakeViewSet("task", "cancel"), request) == ("task", "cancel")
    # A plain APIView is keyed by its URL name and the method.
    from django.urls import resolve

    request = rf.patch("/api/v1/organization/")
    request.resolver_match = resolve("/api/v1/organization/", urlconf="config.urls_tenant")
    assert policy_key(object(), request) == ("organization-settings", "patch")


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (Role.STAFF, "create", True),
        (Role.STAFF, "cancel", False),
        (Role.MANAGER, "cancel", True),
        (Role.MANAGER, "no_entry", False),
        (Role.OWNER, "cancel", True),
        (Role.OWNER, "no_entry", False),
    ],
)
def test_role_permission_uses_the_membership_of_this_org(acme, role, action, allowed):
    user = acme.users[role]
    user.membership = user.memberships.get(organization=acme.organization)
    request = APIRequestFactory().post("/")
    request.user = user
    view = FakeViewSet("task", action)
    assert RolePermission().has_permission(request, view) is allowed
    # A membership of another organization never counts here.
    user.membership.organization_id = -1
    assert RolePermission().has_permission(request, view) is False
    connection.set_schema_to_public()
