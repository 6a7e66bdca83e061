"""Login, token binding to the organization, refresh rotation, logout, lockout, revocation."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import Membership, User
from testing.orgs import PASSWORD

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"


def login(org, email, password=PASSWORD, ip="10.0.0.1"):
    return APIClient(HTTP_HOST=org.host, REMOTE_ADDR=ip).post(
        TOKEN_URL, {"email": email, "password": password}, format="json"
    )


def bearer(org, access):
    client = APIClient(HTTP_HOST=org.host)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_login_returns_tokens_and_role_and_me_answers(acme):
    response = login(acme, "Manager@Acme.test")
    assert response.status_code == 200
    body = response.json()
    assert body["role"] == "manager"
    me = bearer(acme, body["access"]).get("/api/v1/auth/me/")
    assert me.status_code == 200
    assert me.json()["email"] == "manager@acme.test"
    assert me.json()["role"] == "manager"


@pytest.mark.parametrize(
    ("email", "password"),
    [("manager@acme.test", "wrong-password"), ("nobody@acme.test", PASSWORD)],
)
def test_bad_credentials_are_401(acme, email, password):
    response = login(acme, email, password)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_CREDENTIALS"


def test_member_of_another_org_cannot_log_in_here(acme, globex):
    response = login(acme, "manager@globex.test")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_CREDENTIALS"


def test_login_input_is_validated(acme):
    client = APIClient(HTTP_HOST=acme.host)
    response = client.post(TOKEN_URL, {"email": "not-an-email", "pw": 1}, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["details"]["fields"]
    assert "email" in fields and "password" in fields


def test_token_from_one_org_is_401_on_another_even_for_a_member_of_both(acme, globex):
    access = login(acme, "both@multi.test").json()["access"]
    assert bearer(acme, access).get("/api/v1/auth/me/").status_code == 200
    response = bearer(globex, access).get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"
    # The same person gets a globex token on globex's host.
    globex_access = login(globex, "both@multi.test").json()["access"]
    assert bearer(globex, globex_access).get("/api/v1/auth/me/").status_code == 200


def test_refresh_token_is_bound_to_its_org(acme, globex):
    refresh = login(acme, "both@multi.test").json()["refresh"]
    response = APIClient(HTTP_HOST=globex.host).post(
        REFRESH_URL, {"refresh": refresh}, format="json"
    )
    assert response.status_code == 401


def test_refresh_rotates_and_the_old_refresh_token_is_dead(acme):
    first = login(acme, "staff@acme.test").json()
    client = APIClient(HTTP_HOST=acme.host)
    rotated = client.post(REFRESH_URL, {"refresh": first["refresh"]}, format="json")
    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != first["refresh"]
    assert bearer(acme, rotated.json()["access"]).get("/api/v1/auth/me/").status_code == 200
    replay = client.post(REFRESH_URL, {"refresh": first["refresh"]}, format="json")
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_logout_revokes_refresh_and_access(acme):
    tokens = login(acme, "staff@acme.test").json()
    client = bearer(acme, tokens["access"])
    assert client.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}).status_code == 204
    assert client.get("/api/v1/auth/me/").status_code == 401
    again = APIClient(HTTP_HOST=acme.host).post(
        REFRESH_URL, {"refresh": tokens["refresh"]}, format="json"
    )
    assert again.status_code == 401


def test_deactivated_user_loses_access_at_once(acme):
    tokens = login(acme, "staff@acme.test").json()
    User.objects.filter(email="staff@acme.test").update(is_active=False)
    assert bearer(acme, tokens["access"]).get("/api/v1/auth/me/").status_code == 401
    refresh = APIClient(HTTP_HOST=acme.host).post(
        REFRESH_URL, {"refresh": tokens["refresh"]}, format="json"
    )
    assert refresh.status_code == 401


def test_removed_member_loses_access_at_once(acme):
    tokens = login(acme, "staff@acme.test").json()
    Membership.objects.filter(user__email="staff@acme.test").delete()
    response = bearer(acme, tokens["access"]).get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert "no longer a member" in response.json()["error"]["message"]


def test_garbage_token_is_401_in_the_envelope(acme):
    response = bearer(acme, "not.a.jwt").get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_lockout_after_five_failures_for_one_email(acme):
    for _ in range(5):
        assert login(acme, "manager@acme.test", "bad").status_code == 401
    locked = login(acme, "manager@acme.test")  # the correct password does not bypass it
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "LOGIN_LOCKED"
    assert 0 < int(locked["Retry-After"]) <= 15 * 60
    # Another email is not affected.
    assert login(acme, "owner@acme.test", ip="10.0.0.2").status_code == 200


def test_lockout_after_twenty_failures_from_one_ip(acme):
    for i in range(20):
        login(acme, f"user{i}@acme.test", "bad", ip="10.9.9.9")
    response = login(acme, "owner@acme.test", ip="10.9.9.9")
    assert response.status_code == 429
    assert login(acme, "owner@acme.test", ip="10.9.9.10").status_code == 200


@override_settings(LOGIN_LOCKOUT_WINDOW_SECONDS=1)
def test_lockout_expires_with_its_window(acme):
    import time

    for _ in range(5):
        login(acme, "manager@acme.test", "bad")
    assert login(acme, "manager@acme.test").status_code == 429
    time.sleep(1.2)
    assert login(acme, "manager@acme.test").status_code == 200
