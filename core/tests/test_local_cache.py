"""The per-process host and membership lookups: changes made here are seen at once, changes
made elsewhere (no signal in this process) within the TTL."""

import time

import pytest

from accounts.models import Membership, User
from organizations.models import Organization
from organizations.services import organization_set_active


@pytest.fixture
def cached(settings):
    settings.LOCAL_CACHE_SECONDS = 1
    return settings


def test_suspension_through_the_service_applies_at_once(acme, cached):
    client = acme.client("staff")
    assert client.get("/api/v1/auth/me/").status_code == 200
    organization_set_active(
        organization=Organization.objects.get(pk=acme.organization.pk), is_active=False
    )
    assert client.get("/api/v1/auth/me/").status_code == 403


def test_deactivation_and_removal_apply_at_once(acme, cached):
    client = acme.client("staff")
    assert client.get("/api/v1/auth/me/").status_code == 200
    user = User.objects.get(email="staff@acme.test")
    user.is_active = False
    user.save()
    assert client.get("/api/v1/auth/me/").status_code == 401
    user.is_active = True
    user.save()
    assert client.get("/api/v1/auth/me/").status_code == 200
    Membership.objects.get(user=user, organization=acme.organization).delete()
    assert client.get("/api/v1/auth/me/").status_code == 401


def test_changes_from_another_process_are_seen_within_the_ttl(acme, cached):
    client = acme.client("staff")
    assert client.get("/api/v1/auth/me/").status_code == 200
    # queryset.update() sends no signal: like a change made by another web process.
    Organization.objects.filter(pk=acme.organization.pk).update(is_active=False)
    User.objects.filter(email="staff@acme.test").update(is_active=False)
    assert client.get("/api/v1/auth/me/").status_code == 200  # still cached
    time.sleep(1.1)
    assert client.get("/api/v1/auth/me/").status_code == 403


def test_cached_requests_skip_the_lookups(acme, cached, django_assert_max_num_queries):
    client = acme.client("staff")
    client.get("/api/v1/auth/me/")
    with django_assert_max_num_queries(0):
        assert client.get("/api/v1/auth/me/").status_code == 200
