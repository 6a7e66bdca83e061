"""Login lockout (accounts.lockout), on the machine's Redis and on the embedded Redis 6.2:
counted atomically before the password is checked, for the API login and the Django admin
login alike, with an operator's list and unlock; fail closed when Redis is unreachable."""

import logging
import threading
import time

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connection
from django.test import Client, override_settings
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from accounts.models import User
from testing.orgs import PASSWORD

from .private_redis import PrivateRedis, private_redis

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
ADMIN_LOGIN = "/admin/login/"
LOCKOUTS = "/admin/login-lockouts/"


class CountingHasher(MD5PasswordHasher):
    """The suite's MD5 hasher, made slow and counted: every password check is visible."""

    calls = 0
    _lock = threading.Lock()

    def verify(self, password, encoded):
        with CountingHasher._lock:
            CountingHasher.calls += 1
        time.sleep(0.2)  # a real hasher takes this long: every guess is in flight together
        return super().verify(password, encoded)


@pytest.fixture(params=["machine", "redis-6.2"])
def lockout_redis(request, tmp_path):
    """The lockout's Redis: the shared server of the suite, or a private embedded 6.2."""
    if request.param == "machine":
        yield get_redis_connection("default")
        return
    with private_redis(tmp_path) as server:
        assert server.version.startswith("6.2"), server.version
        yield server.client


def login(org, email, password=PASSWORD, ip="10.0.0.1"):
    return APIClient(HTTP_HOST=org.host, REMOTE_ADDR=ip).post(
        TOKEN_URL, {"email": email, "password": password}, format="json"
    )


# --- API login ---------------------------------------------------------------------------


@override_settings(
    PASSWORD_HASHERS=["accounts.tests.test_lockout.CountingHasher"],
)
def test_sixteen_concurrent_guesses_check_at_most_five_passwords(acme, lockout_redis):
    # One request first: the metrics middleware registers its collectors on first use, which
    # 16 threads doing at once would race on (DuplicateTimeseries), not what is tested here.
    assert APIClient(HTTP_HOST=acme.host).get("/health/").status_code == 200
    CountingHasher.calls = 0
    barrier = threading.Barrier(16)
    statuses: list[int] = []
    retry_afters: list[str] = []

    def guess(index):
        try:
            barrier.wait()
            response = login(acme, "manager@acme.test", f"wrong-{index}", ip=f"10.2.0.{index}")
            statuses.append(response.status_code)
            if response.status_code == 429:
                retry_afters.append(response["Retry-After"])
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert CountingHasher.calls == 5
    assert sorted(statuses) == [401] * 5 + [429] * 11
    assert all(0 < int(value) <= 15 * 60 for value in retry_afters)
    assert int(lockout_redis.get("cc:login-fail:email:manager@acme.test")) == 5


def test_correct_password_during_a_lockout_is_still_429(acme, lockout_redis):
    for _ in range(5):
        assert login(acme, "manager@acme.test", "bad").status_code == 401
    locked = login(acme, "manager@acme.test", ip="10.0.0.77")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "LOGIN_LOCKED"
    assert 0 < int(locked["Retry-After"]) <= 15 * 60
    # The window runs from the first failure: refused attempts do not extend it.
    assert 0 < lockout_redis.ttl("cc:login-fail:email:manager@acme.test") <= 15 * 60
    assert login(acme, "owner@acme.test", ip="10.0.0.2").status_code == 200


def test_successful_logins_are_not_counted(acme, lockout_redis):
    for _ in range(4):
        assert login(acme, "staff@acme.test", "bad").status_code == 401
    for _ in range(8):  # each success gives its count back: the 4 failures stay, no more
        assert login(acme, "staff@acme.test").status_code == 200
    assert int(lockout_redis.get("cc:login-fail:email:staff@acme.test")) == 4
    assert login(acme, "staff@acme.test", "bad").status_code == 401
    assert login(acme, "staff@acme.test").status_code == 429


# --- Fail closed -------------------------------------------------------------------------


def test_redis_unreachable_login_refresh_logout_are_503_and_the_error_is_logged(
    acme, tmp_path, caplog
):
    client = APIClient(HTTP_HOST=acme.host)
    with private_redis(tmp_path) as server:
        tokens = login(acme, "staff@acme.test").json()
        logged_out = login(acme, "manager@acme.test").json()
        bearer = APIClient(HTTP_HOST=acme.host)
        bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {logged_out['access']}")
        assert bearer.post("/api/v1/auth/logout/", {"refresh": logged_out["refresh"]}).status_code
        server.stop()

        with caplog.at_level(logging.WARNING):
            response = login(acme, "staff@acme.test")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "AUTH_UNAVAILABLE"
        assert int(response["Retry-After"]) > 0
        # The real error is in the log, not a guess at what went wrong.
        failures = [r for r in caplog.records if "lockout store unreachable" in r.getMessage()]
        assert failures and failures[0].exc_info is not None
        assert "Connection" in repr(failures[0].exc_info[1])

        refresh = client.post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")
        assert refresh.status_code == 503
        assert refresh.json()["error"]["code"] == "AUTH_UNAVAILABLE"

        own = APIClient(HTTP_HOST=acme.host)
        own.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        logout = own.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]})
        assert logout.status_code == 503
        assert logout.json()["error"]["code"] == "AUTH_UNAVAILABLE"

        # Authenticated reads keep working (the catalog and task paths degrade gracefully)...
        assert own.get("/api/v1/auth/me/").status_code == 200
        # ... and a token logged out before the outage stays refused (PostgreSQL blacklist).
        assert bearer.get("/api/v1/auth/me/").status_code == 401


# --- Django admin ------------------------------------------------------------------------


@pytest.fixture
def operator(db):
    return User.objects.create_superuser(email="ops-lockout@platform.test", password=PASSWORD)


def admin_login(email, password, ip="10.5.0.1") -> tuple[Client, object]:
    client = Client(HTTP_HOST="localhost", REMOTE_ADDR=ip)
    response = client.post(ADMIN_LOGIN, {"username": email, "password": password})
    return client, response


def logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def test_admin_login_lockout_holds_against_the_right_password_then_unlock(operator, lockout_redis):
    target = User.objects.create_superuser(email="ops-target@platform.test", password=PASSWORD)
    for _ in range(30):
        _client, response = admin_login(target.email, "wrong")
        assert response.status_code in (200, 429)
    client, response = admin_login(target.email, PASSWORD)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert b"Too many failed logins" in response.content
    assert not logged_in(client)

    # The operators' list shows the counter; the unlock action deletes it.
    ops = Client(HTTP_HOST="localhost")
    ops.force_login(operator)
    page = ops.get(LOCKOUTS)
    assert page.status_code == 200
    assert b"ops-target@platform.test" in page.content
    key = "cc:login-fail:email:ops-target@platform.test"
    assert int(lockout_redis.get(key)) == 5
    assert ops.post(f"{LOCKOUTS}unlock/", {"key": key}).status_code == 302
    assert lockout_redis.get(key) is None

    client, response = admin_login(target.email, PASSWORD)
    assert response.status_code == 302
    assert logged_in(client)


def test_admin_and_api_logins_share_the_counters(acme, lockout_redis):
    for _ in range(3):
        assert login(acme, "owner@acme.test", "bad").status_code == 401
    for _ in range(2):
        assert admin_login("owner@acme.test", "bad")[1].status_code == 200
    assert login(acme, "owner@acme.test", ip="10.9.0.1").status_code == 429


def test_lockout_pages_are_for_staff_only(acme, operator):
    member = Client(HTTP_HOST="localhost")
    member.force_login(acme.users["owner"])  # an organization's owner is no platform operator
    assert member.get(LOCKOUTS).status_code == 302  # to the admin login
    assert member.post(f"{LOCKOUTS}unlock/", {"key": "cc:login-fail:ip:1.2.3.4"}).status_code == 302
    anonymous = Client(HTTP_HOST="localhost")
    assert anonymous.get(LOCKOUTS).status_code == 302
    # Only lockout keys can be deleted through the unlock action.
    get_redis_connection("default").set("cc:other", 1)
    ops = Client(HTTP_HOST="localhost")
    ops.force_login(operator)
    ops.post(f"{LOCKOUTS}unlock/", {"key": "cc:other"})
    assert get_redis_connection("default").get("cc:other") == b"1"


def test_admin_login_with_redis_unreachable_is_refused(operator, tmp_path):
    server = PrivateRedis(tmp_path)
    with server.as_cache():
        server.stop()
        client, response = admin_login(operator.email, PASSWORD)
        assert response.status_code == 503
        assert int(response["Retry-After"]) > 0
        assert not logged_in(client)
