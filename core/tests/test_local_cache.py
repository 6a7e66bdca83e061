"""The per-process host and membership lookups: changes made here are seen at once, changes
made elsewhere (no signal in this process) within the TTL."""

import time

import pytest
import redis
from django.conf import settings

from accounts.models import Membership, User
from core import local_cache
from core.local_cache import listener_client_name
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


# --- Across processes: invalidations published on Redis ------------------------------------


def _eventually(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def listening(settings):
    """This process with the production cache settings: a short TTL so long that only a heard
    invalidation can explain a fresh read, and the listener subscribed."""
    settings.LOCAL_CACHE_SECONDS = 120
    settings.LOCAL_CACHE_LISTENING_SECONDS = 600
    assert local_cache._listener.ttl() == 120  # the first lookup starts the listener
    assert _eventually(local_cache.local_cache_listening, 5), "listener never subscribed"
    yield settings
    local_cache._listener.stop()


def _publisher():
    return redis.Redis.from_url(settings.REDIS_URL)


def test_a_message_from_another_process_clears_this_ones_caches(acme, listening):
    client = acme.client("staff")
    assert client.get("/api/v1/auth/me/").status_code == 200
    assert local_cache._listener.ttl() == 600
    # No signal here: what another process's change looks like to this one.
    Organization.objects.filter(pk=acme.organization.pk).update(is_active=False)
    assert client.get("/api/v1/auth/me/").status_code == 200  # cached for 10 minutes
    _publisher().publish(settings.LOCAL_CACHE_CHANNEL, "another process")
    assert _eventually(lambda: client.get("/api/v1/auth/me/").status_code == 403, 2)


def test_a_change_is_published_once_committed(acme, django_capture_on_commit_callbacks):
    pubsub = _publisher().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(settings.LOCAL_CACHE_CHANNEL)
    try:
        assert pubsub.get_message(timeout=1) is None  # the subscription's confirmation
        with django_capture_on_commit_callbacks() as callbacks:
            user = User.objects.get(email="staff@acme.test")
            user.first_name = "Renamed"
            user.save()
        # Before the commit nothing is published: a reader elsewhere would cache the old row.
        assert pubsub.get_message(timeout=0.3) is None
        for callback in callbacks:
            callback()
        message = pubsub.get_message(timeout=2)
        assert message is not None and message["type"] == "message"
        assert pubsub.get_message(timeout=0.3) is None  # one message per change
    finally:
        pubsub.close()


def test_a_process_that_cannot_hear_keeps_the_short_ttl(settings):
    settings.LOCAL_CACHE_SECONDS = 5
    settings.LOCAL_CACHE_LISTENING_SECONDS = 600
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    deaf = local_cache._Listener()
    try:
        assert deaf.ttl() == 5
        time.sleep(1.5)
        assert not deaf.listening()
        assert deaf.ttl() == 5
    finally:
        deaf.stop()


def test_a_dropped_subscription_falls_back_to_the_short_ttl_then_recovers(listening):
    admin = _publisher()
    (connection,) = [
        c for c in admin.client_list(_type="pubsub") if c["name"] == listener_client_name()
    ]
    admin.client_kill_filter(_id=connection["id"])
    # Deaf at once (the connection's end is seen) or within LISTENER_DEAD_AFTER (a silent one).
    assert _eventually(lambda: not local_cache.local_cache_listening(), 4)
    assert local_cache._listener.ttl() == 120
    assert _eventually(local_cache.local_cache_listening, 10), "listener never came back"
    assert local_cache._listener.ttl() == 600
