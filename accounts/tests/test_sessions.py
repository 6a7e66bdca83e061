"""Sessions that really end: the session-version claim (``sv``) refuses every earlier access and
refresh token after a bump (password change or reset, log out everywhere, deactivation), in
every process: at once where a process hears the published invalidations (core.local_cache),
within LOCAL_CACHE_SECONDS where it does not; the logout deny-list is checked by authentication for
every view, whatever its throttles or permissions."""

import socket
import time
import uuid

import httpx
import pytest
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.choices import Role
from accounts.models import Membership, User
from accounts.services import user_sessions_revoke
from core.throttling import RateLimitThrottle
from testing.orgs import PASSWORD

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
ME_URL = "/api/v1/auth/me/"


def login(org, email, password=PASSWORD):
    response = APIClient(HTTP_HOST=org.host).post(
        TOKEN_URL, {"email": email, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def bearer(org, access):
    client = APIClient(HTTP_HOST=org.host)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def refresh(org, token):
    return APIClient(HTTP_HOST=org.host).post(REFRESH_URL, {"refresh": token}, format="json")


def test_tokens_carry_the_session_version(acme):
    user = acme.users["staff"]
    User.objects.filter(pk=user.pk).update(session_version=7)
    tokens = login(acme, user.email)
    assert AccessToken(tokens["access"])["sv"] == 7
    assert RefreshToken(tokens["refresh"])["sv"] == 7


def test_a_bump_refuses_every_earlier_access_and_refresh_token(acme, globex):
    user = acme.users["both"]  # a member of two organizations: both sessions end
    on_acme, on_globex = login(acme, user.email), login(globex, user.email)
    assert bearer(acme, on_acme["access"]).get(ME_URL).status_code == 200

    user_sessions_revoke(user=user)

    for org, tokens in ((acme, on_acme), (globex, on_globex)):
        response = bearer(org, tokens["access"]).get(ME_URL)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == "AUTHENTICATION_FAILED"
        assert error["details"]["code"] == "token_revoked"
        assert refresh(org, tokens["refresh"]).status_code == 401
    # A new login works, with the new version.
    fresh = login(acme, user.email)
    assert bearer(acme, fresh["access"]).get(ME_URL).status_code == 200


def test_rotation_keeps_the_version_and_cannot_outlive_a_bump(acme):
    user = acme.users["manager"]
    first = login(acme, user.email)
    rotated = refresh(acme, first["refresh"]).json()
    assert (
        RefreshToken(rotated["refresh"])["sv"] == RefreshToken(first["refresh"], verify=False)["sv"]
    )
    assert (
        AccessToken(rotated["access"])["rjti"]
        == RefreshToken(first["refresh"], verify=False)["jti"]
    )

    user_sessions_revoke(user=user)

    assert refresh(acme, rotated["refresh"]).status_code == 401
    assert bearer(acme, rotated["access"]).get(ME_URL).status_code == 401


def test_an_operator_password_reset_in_the_admin_ends_earlier_sessions(acme):
    user = acme.users["staff"]
    tokens = login(acme, user.email)
    operator = User.objects.create_superuser(email="ops-reset@platform.test", password=PASSWORD)
    admin = APIClient(HTTP_HOST="localhost")
    admin.force_login(operator)
    response = admin.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": "An0ther-long-passphrase", "password2": "An0ther-long-passphrase"},
        format="multipart",
    )
    assert response.status_code == 302
    assert refresh(acme, tokens["refresh"]).status_code == 401
    assert bearer(acme, tokens["access"]).get(ME_URL).status_code == 401
    assert login(acme, user.email, "An0ther-long-passphrase")["access"]


def test_deactivation_refuses_tokens(acme):
    tokens = login(acme, "staff@acme.test")
    User.objects.filter(email="staff@acme.test").update(is_active=False)
    assert bearer(acme, tokens["access"]).get(ME_URL).status_code == 401
    assert refresh(acme, tokens["refresh"]).status_code == 401


# --- The deny-list belongs to authentication -------------------------------------------------


class _AlwaysAllow(RateLimitThrottle):
    """A throttle of another kind (a view may have any): it never counts anything."""

    def allow_request(self, request, view):
        return True


class _BareView(APIView):
    throttle_classes = [_AlwaysAllow]
    permission_classes: list = []

    def get(self, request):
        return Response({"user": request.user.pk})


def _logged_out(org, email) -> str:
    tokens = login(org, email)
    client = bearer(org, tokens["access"])
    assert client.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}).status_code == 204
    return tokens["access"]


def test_a_logged_out_token_is_refused_whatever_the_views_throttles(acme):
    access = _logged_out(acme, "staff@acme.test")
    request = APIRequestFactory().get(
        "/", HTTP_HOST=acme.host, HTTP_AUTHORIZATION=f"Bearer {access}"
    )
    response = _BareView.as_view()(request)
    assert response.status_code == 401


def test_a_logged_out_token_is_401_before_any_permission_is_judged(acme):
    access = _logged_out(acme, "staff@acme.test")
    # A manager-only action: a live staff token would be 403; a dead one is 401.
    response = bearer(acme, access).post("/api/v1/screens/", {"name": "x"}, format="json")
    assert response.status_code == 401


# --- Across processes --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Each server process's caches as in production: a short TTL alone (no listener), or the
# long TTL of a process that hears invalidations (Redis pub/sub), with a short TTL so long that
# only a published invalidation can explain a refusal within the bound below.
CACHE_MODES = {
    "ttl-5s": ({"TEST_LOCAL_CACHE_SECONDS": "5"}, 7.0),
    "pubsub": (
        {"TEST_LOCAL_CACHE_SECONDS": "120", "TEST_LOCAL_CACHE_LISTENING_SECONDS": "600"},
        2.0,
    ),
}


@pytest.fixture(params=sorted(CACHE_MODES))
def two_servers(request, tmp_path):
    from displays.tests.live import LiveServer

    env, bound = CACHE_MODES[request.param]
    servers = []
    try:
        for _ in range(2):
            servers.append(LiveServer(_free_port(), tmp_path, **env).start())
        yield servers, bound
    finally:
        for server in servers:
            server.stop()


@pytest.mark.slow
def test_password_change_on_one_process_ends_the_session_on_another_within_seconds(
    committed_org, two_servers
):
    (a, b), bound = two_servers
    email = f"sv-{uuid.uuid4().hex[:8]}@sessions.test"
    user = User.objects.create_user(email=email, password=PASSWORD)
    Membership.objects.create(user=user, organization=committed_org.organization, role=Role.STAFF)
    headers = {"Host": committed_org.host}

    def url(server, path):
        return f"http://127.0.0.1:{server.port}{path}"

    with httpx.Client(timeout=10) as http:
        logged_in = http.post(
            url(a, TOKEN_URL), headers=headers, json={"email": email, "password": PASSWORD}
        )
        assert logged_in.status_code == 200, logged_in.text
        tokens = logged_in.json()
        old = {**headers, "Authorization": f"Bearer {tokens['access']}"}
        assert http.get(url(b, ME_URL), headers=old).status_code == 200  # B caches the user
        assert http.get(url(b, ME_URL), headers=old).status_code == 200

        changed = http.post(
            url(a, "/api/v1/auth/password/change/"),
            headers=old,
            json={"current_password": PASSWORD, "new_password": "Brand-new-passphrase-42"},
        )
        assert changed.status_code == 200, changed.text
        started = time.monotonic()
        # The process that made the change refuses the old token at once.
        assert http.get(url(a, ME_URL), headers=old).status_code == 401
        # A refresh token is checked against the database: refused at once everywhere.
        old_refresh = http.post(
            url(b, REFRESH_URL), headers=headers, json={"refresh": tokens["refresh"]}
        )
        assert old_refresh.status_code == 401
        # The other process: within its cache lifetime (5 s) and a little scheduling slack, or,
        # hearing invalidations, as soon as the message arrives (its TTL would be 2 minutes).
        while http.get(url(b, ME_URL), headers=old).status_code != 401:
            assert time.monotonic() - started < bound, "process B still accepts the old token"
            time.sleep(0.1)
        new = {**headers, "Authorization": f"Bearer {changed.json()['access']}"}
        assert http.get(url(b, ME_URL), headers=new).status_code == 200
    User.objects.filter(pk=user.pk).delete()
