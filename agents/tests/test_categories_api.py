"""/api/v1/agent-categories/: roles, tenancy, happy paths, bad input, PROTECT."""

import pytest

from agents.models import AgentCategory
from testing.factories import category_make

from .conftest import error_fields

URL = "/api/v1/agent-categories/"


def detail(pk) -> str:
    return f"{URL}{pk}/"


# --- anonymous / roles / other organization --------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "list"),
        ("post", "list"),
        ("get", "detail"),
        ("patch", "detail"),
        ("delete", "detail"),
    ],
)
def test_anonymous_is_401(acme, acme_catalog, method, path):
    url = URL if path == "list" else detail(acme_catalog.categories[0].pk)
    response = getattr(acme.client(), method)(url, {}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"


@pytest.mark.parametrize(
    "method,path", [("post", "list"), ("patch", "detail"), ("delete", "detail")]
)
def test_staff_cannot_write(acme, acme_catalog, method, path):
    category = acme_catalog.categories[0]
    url = URL if path == "list" else detail(category.pk)
    response = getattr(acme.client("staff"), method)(url, {"name": "X"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert AgentCategory.objects.filter(pk=category.pk, name=category.name).exists()
    assert not AgentCategory.objects.filter(name="X").exists()


def test_staff_can_read(acme, acme_catalog):
    client = acme.client("staff")
    assert client.get(URL).status_code == 200
    assert client.get(detail(acme_catalog.categories[0].pk)).status_code == 200


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_other_organizations_category_is_404(acme, globex, globex_catalog, method):
    foreign = globex_catalog.categories[0]
    response = getattr(acme.client("owner"), method)(detail(foreign.pk), {"name": "Y"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    with globex.active():
        assert AgentCategory.objects.get(pk=foreign.pk).name == foreign.name


def test_token_of_another_organization_is_401(acme, globex):
    client = globex.client("manager")
    client.defaults["HTTP_HOST"] = acme.host
    assert client.get(URL).status_code == 401


@pytest.mark.parametrize("pk", ["abc", "0", "-1", "99999999999999999999999", "1.5"])
def test_malformed_ids_are_404(acme, pk):
    assert acme.client("manager").get(detail(pk)).status_code == 404


# --- happy paths -----------------------------------------------------------------------------


def test_list_shape_and_ordering(acme, acme_catalog):
    body = acme.client("staff").get(URL).json()
    assert body["count"] == 2
    assert set(body) == {"count", "next", "previous", "results"}
    first = body["results"][0]
    assert first["name"] == "Hot dishes"
    assert first["agent_count"] == 2
    assert set(first) == {"id", "name", "sort_order", "agent_count", "created_at", "updated_at"}
    names = [
        c["name"] for c in acme.client("staff").get(URL, {"ordering": "-name"}).json()["results"]
    ]
    assert names == ["Hot dishes", "Bar"]
    assert acme.client("staff").get(URL, {"search": "ba"}).json()["count"] == 1


def test_create_update_delete(acme):
    client = acme.client("manager")
    response = client.post(URL, {"name": "Desserts", "sort_order": 3}, format="json")
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    response = client.patch(detail(pk), {"name": "Sweets"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Sweets"
    assert response.json()["sort_order"] == 3
    assert client.delete(detail(pk)).status_code == 204
    assert not AgentCategory.objects.filter(pk=pk).exists()


def test_owner_can_write(acme):
    assert acme.client("owner").post(URL, {"name": "Wine"}, format="json").status_code == 201


def test_deleting_a_category_with_agents_is_409(acme, acme_catalog):
    category = acme_catalog.categories[0]
    response = acme.client("manager").delete(detail(category.pk))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CATEGORY_IN_USE"
    assert AgentCategory.objects.filter(pk=category.pk).exists()


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload,field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": 12}, None),  # DRF CharField accepts numbers as text: no error expected
        ({"name": ["a"]}, "name"),
        ({"name": "Ok", "sort_order": -1}, "sort_order"),
        ({"name": "Ok", "sort_order": "3"}, "sort_order"),
        ({"name": "Ok", "sort_order": 2**31}, "sort_order"),
        ({"name": "Ok", "colour": "red"}, "colour"),
        ({"name": "Hot dishes"}, "name"),  # duplicate
        ({"name": "hot DISHES"}, "name"),  # duplicate, other case
    ],
)
def test_create_bad_input_is_400(acme, acme_catalog, payload, field):
    before = AgentCategory.objects.count()
    response = acme.client("manager").post(URL, payload, format="json")
    if field is None:
        assert response.status_code == 201
        return
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert field in error_fields(response)
    assert AgentCategory.objects.count() == before


def test_malformed_json_is_400(acme):
    response = acme.client("manager").post(URL, "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MALFORMED_REQUEST"


@pytest.mark.parametrize(
    "payload,field",
    [({"name": ""}, "name"), ({"name": "Bar"}, "name"), ({"unknown": 1}, "unknown")],
)
def test_update_bad_input_is_400(acme, acme_catalog, payload, field):
    category = acme_catalog.categories[0]
    response = acme.client("manager").patch(detail(category.pk), payload, format="json")
    assert response.status_code == 400
    assert field in error_fields(response)
    assert AgentCategory.objects.get(pk=category.pk).name == "Hot dishes"


def test_put_is_not_allowed(acme, acme_catalog):
    response = acme.client("manager").put(detail(acme_catalog.categories[0].pk), {"name": "Z"})
    assert response.status_code == 405


def test_list_query_count_does_not_grow_with_page_size(acme, django_assert_max_num_queries):
    for i in range(30):
        category_make(name=f"C{i:02d}")
    client = acme.client("staff")
    # Two search_path SETs, domain (middleware), membership (authentication), count, page.
    with django_assert_max_num_queries(6):
        assert len(client.get(URL, {"page_size": 2}).json()["results"]) == 2
    with django_assert_max_num_queries(6):
        assert len(client.get(URL, {"page_size": 30}).json()["results"]) == 30
