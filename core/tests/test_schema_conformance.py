"""Responses match the published OpenAPI schema (the cases schemathesis found, issue 13).

Each response is validated by schemathesis' own response check against the schema the
organization's host serves, so these tests and ``scripts/fuzz_api.py`` agree on what conforms.
"""

import pytest
import requests
import schemathesis
from rest_framework.test import APIClient

from testing.factories import catalog_make


@pytest.fixture
def schema(acme):
    spec = APIClient(HTTP_HOST=acme.host).get("/api/schema/?format=json").json()
    return schemathesis.openapi.from_dict(spec)


def conforms(schema, method: str, path: str, response) -> None:
    """Raise (with schemathesis' message) unless ``response`` is what the schema documents."""
    url = "http://testserver" + response.request["PATH_INFO"]
    converted = schemathesis.Response(
        status_code=response.status_code,
        headers={k: [v] for k, v in response.headers.items()},
        content=response.content,
        request=requests.Request(method, url).prepare(),
        elapsed=0.0,
        verify=True,
    )
    schema[path][method].validate_response(converted)


def test_reconciliation_before_the_first_run(acme, schema):
    response = acme.client("manager").get("/api/v1/agents/reconciliation/")
    assert response.status_code == 200
    assert response.json()["id"] is None and response.json()["checked_at"] is None
    conforms(schema, "GET", "/api/v1/agents/reconciliation/", response)


def test_organization_read_and_update(acme, schema):
    client = acme.client("owner")
    response = client.get("/api/v1/organization/")
    assert response.json()["business_day_start"].count(":") == 2  # local time, no offset
    conforms(schema, "GET", "/api/v1/organization/", response)
    response = client.patch("/api/v1/organization/", {"report_time": "03:30"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["report_time"] == "03:30:00"
    conforms(schema, "PATCH", "/api/v1/organization/", response)


def test_category_create_and_update_carry_agent_count(acme, schema):
    client = acme.client("manager")
    created = client.post("/api/v1/agent-categories/", {"name": "Soups"}, format="json")
    assert created.status_code == 201
    assert created.json()["agent_count"] == 0
    conforms(schema, "POST", "/api/v1/agent-categories/", created)
    path = f"/api/v1/agent-categories/{created.json()['id']}/"
    updated = client.patch(path, {"sort_order": 4}, format="json")
    assert updated.json()["agent_count"] == 0
    conforms(schema, "PATCH", "/api/v1/agent-categories/{id}/", updated)


def test_a_pending_task_with_its_unset_timestamps(acme, schema):
    catalog = catalog_make()
    client = acme.client("staff")
    body = {"items": [{"agent_id": catalog.tea.id, "quantity": 1}]}
    created = client.post("/api/v1/tasks/", body, format="json")
    assert created.status_code == 201
    assert created.json()["accepted_at"] is None
    conforms(schema, "POST", "/api/v1/tasks/", created)
    listed = client.get("/api/v1/tasks/")
    conforms(schema, "GET", "/api/v1/tasks/", listed)
    detail = client.get(f"/api/v1/tasks/{created.json()['id']}/")
    conforms(schema, "GET", "/api/v1/tasks/{id}/", detail)


def test_a_ledger_row_without_a_user(acme, schema):
    catalog = catalog_make()  # the initial movements have no user (user_email null)
    response = acme.client("staff").get(f"/api/v1/agents/{catalog.duck.id}/stock-movements/")
    assert response.json()["results"][0]["user_email"] is None
    conforms(schema, "GET", "/api/v1/agents/{id}/stock-movements/", response)


@pytest.mark.parametrize(
    ("method", "path", "url", "status"),
    [
        ("GET", "/api/v1/tasks/", "/api/v1/tasks/?created_after=1382-03-23T12:32:31-16:53", 400),
        ("GET", "/api/v1/reports/dashboard/", "/api/v1/reports/dashboard/?from=0001-01-01", 400),
        ("GET", "/api/v1/agents/{id}/", "/api/v1/agents/999999/", 404),
        ("DELETE", "/api/v1/agent-categories/{id}/", "/api/v1/agent-categories/999999/", 404),
    ],
)
def test_errors_conform(acme, schema, method, path, url, status):
    response = getattr(acme.client("owner"), method.lower())(url)
    assert response.status_code == status
    conforms(schema, method, path, response)


def test_every_error_response_documents_the_envelope(acme):
    spec = APIClient(HTTP_HOST=acme.host).get("/api/schema/?format=json").json()
    missing = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                if int(status) < 400:
                    continue
                body = response.get("content", {}).get("application/json", {}).get("schema", {})
                if body.get("$ref") != "#/components/schemas/ErrorEnvelope":
                    missing.append(f"{method.upper()} {path} {status}")
    assert not missing, missing
    # Operations that take a body document the size and media type refusals as well.
    post = spec["paths"]["/api/v1/tasks/"]["post"]["responses"]
    assert {"400", "413", "415"} <= set(post)
