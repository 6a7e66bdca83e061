"""CORS per organization (core.cors): the origins an owner lists, on that organization only."""

import pytest

from organizations.models import Organization

ORIGIN = "https://app.acme.example"


def _allow(org, origins):
    response = org.client("owner").patch(
        "/api/v1/organization/", {"cors_allowed_origins": origins}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response


def test_owner_sets_origins_and_every_member_reads_them(acme):
    _allow(acme, [ORIGIN, "http://localhost:3000"])
    body = acme.client("staff").get("/api/v1/organization/").json()
    assert body["cors_allowed_origins"] == [ORIGIN, "http://localhost:3000"]


def test_manager_cannot_change_origins(acme):
    response = acme.client("manager").patch(
        "/api/v1/organization/", {"cors_allowed_origins": [ORIGIN]}, format="json"
    )
    assert response.status_code == 403
    assert acme.client("staff").get("/api/v1/organization/").json()["cors_allowed_origins"] == []


def test_listed_origin_gets_the_headers_on_its_organization_only(acme, globex):
    _allow(acme, [ORIGIN])
    on_acme = acme.client("staff").get("/api/v1/organization/", HTTP_ORIGIN=ORIGIN)
    assert on_acme.status_code == 200
    assert on_acme["Access-Control-Allow-Origin"] == ORIGIN
    # Bearer tokens, never cookies: credentials are never allowed.
    assert "Access-Control-Allow-Credentials" not in on_acme
    assert "origin" in on_acme["Vary"].lower()
    exposed = on_acme["Access-Control-Expose-Headers"].lower()
    assert "x-request-id" in exposed
    assert "retry-after" in exposed

    on_globex = globex.client("staff").get("/api/v1/organization/", HTTP_ORIGIN=ORIGIN)
    assert on_globex.status_code == 200
    assert "Access-Control-Allow-Origin" not in on_globex


def test_unlisted_origin_and_non_api_paths_get_no_headers(acme):
    _allow(acme, [ORIGIN])
    other = acme.client("staff").get("/api/v1/organization/", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other
    # Almost the same origin (another scheme, another port) is another origin.
    for near in ("http://app.acme.example", "https://app.acme.example:8443"):
        response = acme.client("staff").get("/api/v1/organization/", HTTP_ORIGIN=near)
        assert "Access-Control-Allow-Origin" not in response, near
    health = acme.client().get("/health/", HTTP_ORIGIN=ORIGIN)
    assert health.status_code == 200
    assert "Access-Control-Allow-Origin" not in health


def test_preflight_is_answered_for_a_listed_origin(acme, globex):
    _allow(acme, [ORIGIN])
    headers = {
        "HTTP_ORIGIN": ORIGIN,
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "authorization, content-type, idempotency-key",
    }
    # A preflight carries no credentials: it is answered before authentication.
    response = acme.client().options("/api/v1/tasks/", **headers)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    allowed_headers = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed_headers
    allowed_methods = {m.strip() for m in response["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PATCH", "DELETE"} <= allowed_methods
    assert int(response["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in response

    refused = globex.client().options("/api/v1/tasks/", **headers)
    assert "Access-Control-Allow-Origin" not in refused
    assert "Access-Control-Allow-Methods" not in refused


def test_suspended_organization_answer_stays_readable_by_the_listed_origin(acme):
    _allow(acme, [ORIGIN])
    Organization.objects.filter(pk=acme.organization.pk).update(is_active=False)
    response = acme.client("staff").get("/api/v1/organization/", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ORGANIZATION_SUSPENDED"
    assert response["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize(
    "value",
    [
        ["*"],
        ["https://*.acme.example"],
        ["https://app.acme.example/"],
        ["https://app.acme.example/app"],
        ["https://app.acme.example?x=1"],
        ["ftp://app.acme.example"],
        ["app.acme.example"],
        ["null"],
        ["https://user@app.acme.example"],
        ["https://App.Acme.example"],
        ["https://app.acme.example:443"],
        ["https://app.acme.example:99999"],
        [" https://app.acme.example"],
        [ORIGIN, ORIGIN],
        [f"https://a{i}.example" for i in range(51)],
        ORIGIN,
        [1],
    ],
)
def test_invalid_origins_are_refused_with_the_envelope(acme, value):
    client = acme.client("owner")
    response = client.patch("/api/v1/organization/", {"cors_allowed_origins": value}, format="json")
    assert response.status_code == 400, value
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "cors_allowed_origins" in error["details"]["fields"]
    assert error["message"]
    assert client.get("/api/v1/organization/").json()["cors_allowed_origins"] == []


def test_a_near_miss_is_answered_with_the_form_to_use(acme):
    response = acme.client("owner").patch(
        "/api/v1/organization/",
        {"cors_allowed_origins": ["HTTPS://App.Acme.example:443"]},
        format="json",
    )
    assert response.status_code == 400
    (message,) = response.json()["error"]["details"]["fields"]["cors_allowed_origins"]
    assert "https://app.acme.example" in message
