"""``/metrics``: platform host only, a bearer token or a trusted network, the shared services'
gauges, and one view over every web process (prometheus_client's multiprocess mode)."""

import socket

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from config.celery import app
from organizations.models import Organization

PLATFORM = "localhost"
OUTSIDE = "203.0.113.9"  # TEST-NET-3: never in a trusted network


def _samples(text: str, name: str, **labels) -> list[float]:
    return [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_platform_host_from_loopback_gets_the_metrics(acme):
    acme.client("staff").get("/api/v1/auth/me/")
    response = APIClient(HTTP_HOST=PLATFORM).get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert _samples(text, "django_http_requests_total_by_method_total", method="GET")
    assert _samples(text, "cc_database_up") == [1.0]
    assert _samples(text, "cc_database_connections")[0] >= 1
    assert _samples(text, "cc_database_max_connections")[0] >= 1
    assert _samples(text, "cc_cache_up") == [1.0]
    assert _samples(text, "cc_celery_broker_up") == [1.0]
    assert _samples(text, "cc_celery_queue_length", queue="celery")


def test_organization_hosts_never_serve_metrics(acme, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer s3cret-scrape-token"}):
        response = APIClient(HTTP_HOST=acme.host).get("/metrics", **headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
    # A suspended organization's host is no back door (the probes' paths stay open there).
    Organization.objects.filter(pk=acme.organization.pk).update(is_active=False)
    response = APIClient(HTTP_HOST=acme.host).get(
        "/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token"
    )
    assert response.status_code == 404
    assert b"cc_database_up" not in response.content


def test_outside_the_trusted_networks_a_token_is_required(db, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    client = APIClient(HTTP_HOST=PLATFORM, REMOTE_ADDR=OUTSIDE)

    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "METRICS_AUTH_REQUIRED"
    assert missing["WWW-Authenticate"].startswith("Bearer")

    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert wrong.status_code == 403
    assert wrong.json()["error"] == {
        "code": "METRICS_FORBIDDEN",
        "message": wrong.json()["error"]["message"],
        "details": {},
    }

    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert right.status_code == 200
    assert b"cc_database_up 1.0" in right.content


def test_without_a_configured_token_only_trusted_networks_get_in(db, settings):
    settings.METRICS_TOKEN = ""
    outside = APIClient(HTTP_HOST=PLATFORM, REMOTE_ADDR=OUTSIDE)
    # An empty token must not match an empty or any offered one.
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer x").status_code == 403
    inside = APIClient(HTTP_HOST=PLATFORM, REMOTE_ADDR="::1")
    assert inside.get("/metrics").status_code == 200


def test_trusted_networks_come_from_settings(db, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    assert APIClient(HTTP_HOST=PLATFORM, REMOTE_ADDR="10.20.3.4").get("/metrics").status_code == 200
    assert APIClient(HTTP_HOST=PLATFORM, REMOTE_ADDR="10.21.0.1").get("/metrics").status_code == 401
    # Loopback is trusted only while the default list is in place.
    assert APIClient(HTTP_HOST=PLATFORM).get("/metrics").status_code == 401


def test_queue_depth_counts_jobs_waiting_in_the_broker(db):
    def depth() -> float:
        text = APIClient(HTTP_HOST=PLATFORM).get("/metrics").content.decode()
        return _samples(text, "cc_celery_queue_length", queue="celery")[0]

    app.control.purge()
    before = depth()
    try:
        # No worker runs in this test: both jobs stay queued, one at a non-default priority.
        app.send_task("core.tests.never_consumed")
        app.send_task("core.tests.never_consumed", priority=5)
        assert depth() == before + 2
    finally:
        app.control.purge()
    assert depth() == 0


def test_an_unreachable_cache_is_reported_down_not_an_error(db, settings):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{_free_port()}/0"}
    }
    response = APIClient(HTTP_HOST=PLATFORM).get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert _samples(text, "cc_cache_up") == [0.0]
    assert _samples(text, "cc_database_up") == [1.0]


@pytest.mark.slow
def test_one_scrape_reports_every_web_process(db, tmp_path):
    """Two uvicorn processes share a multiprocess directory: either one's /metrics counts the
    requests both served. (`db`, not `live_db`: nothing is written here, and `db` makes
    pytest-django create the test database when this test runs alone.)"""
    from displays.tests.live import LiveServer

    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    servers = [
        LiveServer(_free_port(), tmp_path, PROMETHEUS_MULTIPROC_DIR=str(multiproc)) for _ in "ab"
    ]
    try:
        for server in servers:
            server.start()
        for server, count in zip(servers, (3, 2), strict=True):
            for _ in range(count):
                response = httpx.get(
                    f"http://127.0.0.1:{server.port}/ready/", headers={"Host": PLATFORM}
                )
                assert response.status_code == 200, response.text
        scrapes = [
            httpx.get(f"http://127.0.0.1:{server.port}/metrics", headers={"Host": PLATFORM})
            for server in servers
        ]
    finally:
        for server in servers:
            server.stop()
    for scrape in scrapes:
        assert scrape.status_code == 200, scrape.text
        ready = _samples(
            scrape.text, "django_http_requests_total_by_view_transport_method_total", view="ready"
        )
        assert sum(ready) == 5, scrape.text
    # One file per process: both processes wrote their own samples.
    assert len({path.name.rsplit("_", 1)[-1] for path in multiproc.glob("counter_*.db")}) == 2
