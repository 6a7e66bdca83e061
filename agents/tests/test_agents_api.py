"""/api/v1/agents/: roles, tenancy, filters, happy paths, bad input, plan limit, PROTECT."""

from decimal import Decimal

import pytest
from django.utils import timezone

from agents.choices import StockReason
from agents.models import Agent, StockMovement
from organizations.models import Organization
from tasks.choices import TaskStatus
from testing.factories import TaskSpec, agent_make, tasks_bulk

from .conftest import error_fields

URL = "/api/v1/agents/"


def detail(pk) -> str:
    return f"{URL}{pk}/"


def new_agent(catalog, **extra) -> dict:
    return {"name": "Noodles", "category": catalog.categories[0].pk, "unit_price": "18.00", **extra}


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
    url = URL if path == "list" else detail(acme_catalog.agents[0].pk)
    response = getattr(acme.client(), method)(url, {}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"


@pytest.mark.parametrize(
    "method,path", [("post", "list"), ("patch", "detail"), ("delete", "detail")]
)
def test_staff_cannot_write(acme, acme_catalog, method, path):
    agent = acme_catalog.agents[0]
    url = URL if path == "list" else detail(agent.pk)
    payload = new_agent(acme_catalog) if path == "list" else {"name": "Changed"}
    response = getattr(acme.client("staff"), method)(url, payload, format="json")
    assert response.status_code == 403
    assert Agent.objects.count() == 3
    assert Agent.objects.get(pk=agent.pk).name == agent.name


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_other_organizations_agent_is_404(acme, globex, globex_catalog, method):
    foreign = globex_catalog.agents[0]
    response = getattr(acme.client("owner"), method)(detail(foreign.pk), {"name": "Stolen"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    with globex.active():
        assert Agent.objects.get(pk=foreign.pk).name == foreign.name


def test_other_organizations_category_is_refused_on_create(acme, acme_catalog, globex_catalog):
    # Same numeric id may exist in both schemas: use an id that only globex has.
    foreign_id = max(globex_catalog.categories[-1].pk, acme_catalog.categories[-1].pk) + 1000
    response = acme.client("manager").post(
        URL, new_agent(acme_catalog, category=foreign_id), format="json"
    )
    assert response.status_code == 400
    assert "category" in error_fields(response)


# --- happy paths -----------------------------------------------------------------------------


def test_list_shape(acme, acme_catalog):
    body = acme.client("staff").get(URL).json()
    assert body["count"] == 3
    agent = body["results"][0]
    assert set(agent) == {
        "id",
        "name",
        "category",
        "category_name",
        "unit_price",
        "is_available",
        "stock",
        "low_stock_threshold",
        "is_sold_out",
        "created_at",
        "updated_at",
    }
    assert agent["unit_price"] == "12.50"
    assert agent["category_name"] == "Hot dishes"
    assert agent["stock"] == 10
    assert agent["is_sold_out"] is False
    assert agent["created_at"].endswith("+08:00")  # the organization's zone (Asia/Shanghai)


def test_filters_search_and_ordering(acme, acme_catalog):
    a0, a1, a2 = acme_catalog.agents
    Agent.objects.filter(pk=a1.pk).update(is_available=False)
    Agent.objects.filter(pk=a2.pk).update(stock=0)
    client = acme.client("staff")

    def ids(**params):
        return [a["id"] for a in client.get(URL, params).json()["results"]]

    assert ids(category=acme_catalog.categories[1].pk) == [a1.pk]
    assert ids(available="false") == [a1.pk]
    assert sorted(ids(available="true")) == sorted([a0.pk, a2.pk])
    assert ids(sold_out="true") == [a2.pk]
    assert sorted(ids(sold_out="false")) == sorted([a0.pk, a1.pk])
    assert ids(search="nt 001") == [a1.pk]
    assert ids(ordering="-unit_price") == [a2.pk, a1.pk, a0.pk]
    assert ids(ordering="unit_price") == [a0.pk, a1.pk, a2.pk]
    page = client.get(URL, {"page_size": 2, "ordering": "name"}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]


@pytest.mark.parametrize(
    "params,field",
    [
        ({"category": "abc"}, "category"),
        ({"available": "maybe"}, "available"),
        ({"sold_out": "2"}, "sold_out"),
        ({"search": "a\x00b"}, "search"),
        ({"search": "x" * 201}, "search"),
    ],
)
def test_bad_filters_are_400(acme, acme_catalog, params, field):
    response = acme.client("staff").get(URL, params)
    assert response.status_code == 400
    assert field in error_fields(response)


@pytest.mark.parametrize(
    "params",
    [
        {"category": "1e30"},
        {"category": str(2**70)},
        {"ordering": "category__name,password"},
        {"page_size": "abc"},
        {"unknown": "x"},
    ],
)
def test_odd_query_params_never_fail(acme, acme_catalog, params):
    response = acme.client("staff").get(URL, params)
    assert response.status_code in (200, 400), response.content
    assert response.json()


def test_page_size_is_capped_and_bad_page_is_404(acme, acme_catalog):
    client = acme.client("staff")
    assert client.get(URL, {"page_size": 1000}).status_code == 200
    assert client.get(URL, {"page": 99}).status_code == 404


def test_retrieve(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    body = acme.client("staff").get(detail(agent.pk)).json()
    assert body["id"] == agent.pk and body["name"] == agent.name


def test_create_limited_writes_initial_movement(acme, acme_catalog):
    response = acme.client("manager").post(
        URL, new_agent(acme_catalog, stock=7, low_stock_threshold=2), format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["stock"] == 7 and body["unit_price"] == "18.00"
    movements = list(StockMovement.objects.filter(agent_id=body["id"]))
    assert [(m.delta, m.reason, m.stock_after) for m in movements] == [(7, StockReason.INITIAL, 7)]


def test_create_unlimited_writes_no_movement(acme, acme_catalog):
    response = acme.client("owner").post(URL, new_agent(acme_catalog), format="json")
    assert response.status_code == 201
    assert response.json()["stock"] is None
    assert response.json()["is_sold_out"] is False
    assert not StockMovement.objects.filter(agent_id=response.json()["id"]).exists()


def test_update(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    response = acme.client("manager").patch(
        detail(agent.pk),
        {
            "name": "Renamed",
            "unit_price": "0.00",
            "is_available": False,
            "category": acme_catalog.categories[1].pk,
            "low_stock_threshold": 5,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["name"], body["unit_price"], body["is_available"]) == ("Renamed", "0.00", False)
    assert body["category_name"] == "Bar"
    assert body["stock"] == 10


def test_update_stock_is_refused_by_name(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    response = acme.client("manager").patch(
        detail(agent.pk), {"stock": 99, "name": "Sneaky"}, format="json"
    )
    assert response.status_code == 400
    assert error_fields(response) == {"stock"}
    assert "stock-adjustments" in str(response.json()["error"]["details"]["fields"]["stock"])
    fresh = Agent.objects.get(pk=agent.pk)
    assert (fresh.stock, fresh.name) == (10, agent.name)


def test_delete(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    assert acme.client("manager").delete(detail(agent.pk)).status_code == 204
    assert not Agent.objects.filter(pk=agent.pk).exists()


def test_delete_agent_with_task_items_is_409(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    # A task line naming the agent (its row PROTECTs the agent).
    tasks_bulk(
        acme.organization,
        [TaskSpec(created_at=timezone.now(), status=TaskStatus.PENDING, items=[(agent, 1)])],
    )
    response = acme.client("manager").delete(detail(agent.pk))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "AGENT_IN_USE"
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_plan_limit(acme, acme_catalog):
    organization = Organization.objects.get(pk=acme.organization.pk)
    organization.max_agents = 3
    organization.save(update_fields=["max_agents"])
    response = acme.client("manager").post(URL, new_agent(acme_catalog), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PLAN_LIMIT_REACHED"
    assert response.json()["error"]["details"] == {"max_agents": 3}
    assert Agent.objects.count() == 3


# --- bad input -------------------------------------------------------------------------------

_BAD_CREATE = [
    ({"unit_price": "-1.00"}, "unit_price"),
    ({"unit_price": "1.005"}, "unit_price"),
    ({"unit_price": "100000000.00"}, "unit_price"),
    ({"unit_price": "abc"}, "unit_price"),
    ({"unit_price": "NaN"}, "unit_price"),
    ({"unit_price": "Infinity"}, "unit_price"),
    ({"unit_price": True}, "unit_price"),
    ({"unit_price": None}, "unit_price"),
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "bad\x00name"}, "name"),
    ({"name": {"a": 1}}, "name"),
    ({"category": 999999}, "category"),
    ({"category": "abc"}, "category"),
    ({"category": 10**30}, "category"),
    ({"category": None}, "category"),
    ({"stock": -1}, "stock"),
    ({"stock": "5"}, "stock"),
    ({"stock": 5.5}, "stock"),
    ({"stock": True}, "stock"),
    ({"stock": 10**12}, "stock"),
    ({"low_stock_threshold": -1}, "low_stock_threshold"),
    ({"is_available": "yes"}, "is_available"),
    ({"is_available": 1}, "is_available"),
    ({"colour": "red"}, "colour"),
    ({"is_sold_out": True}, "is_sold_out"),
]


@pytest.mark.parametrize("override,field", _BAD_CREATE)
def test_create_bad_input_is_400(acme, acme_catalog, override, field):
    before = (Agent.objects.count(), StockMovement.objects.count())
    response = acme.client("manager").post(URL, new_agent(acme_catalog, **override), format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert field in error_fields(response)
    assert (Agent.objects.count(), StockMovement.objects.count()) == before


@pytest.mark.parametrize("missing", ["name", "category", "unit_price"])
def test_create_missing_required_field_is_400(acme, acme_catalog, missing):
    payload = new_agent(acme_catalog)
    del payload[missing]
    response = acme.client("manager").post(URL, payload, format="json")
    assert response.status_code == 400
    assert missing in error_fields(response)


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"unit_price": "-0.01"}, "unit_price"),
        ({"unit_price": "99999999.999"}, "unit_price"),
        ({"name": ""}, "name"),
        ({"category": 424242}, "category"),
        ({"is_available": "nope"}, "is_available"),
        ({"is_sold_out": True}, "is_sold_out"),
        ({"id": 5}, "id"),
    ],
)
def test_update_bad_input_is_400(acme, acme_catalog, payload, field):
    agent = acme_catalog.agents[0]
    response = acme.client("manager").patch(detail(agent.pk), payload, format="json")
    assert response.status_code == 400
    assert field in error_fields(response)
    fresh = Agent.objects.get(pk=agent.pk)
    assert (fresh.name, fresh.unit_price, fresh.category_id) == (
        agent.name,
        agent.unit_price,
        agent.category_id,
    )


def test_max_price_is_accepted(acme, acme_catalog):
    response = acme.client("manager").post(
        URL, new_agent(acme_catalog, unit_price="99999999.99"), format="json"
    )
    assert response.status_code == 201
    assert response.json()["unit_price"] == "99999999.99"


def test_list_query_count_does_not_grow_with_page_size(
    acme, acme_catalog, django_assert_max_num_queries
):
    for i in range(40):
        agent_make(name=f"Bulk {i}", category=acme_catalog.categories[i % 2], price=Decimal(1))
    client = acme.client("staff")
    # Two search_path SETs, domain (middleware), membership (authentication), count, page.
    with django_assert_max_num_queries(6):
        assert len(client.get(URL, {"page_size": 2}).json()["results"]) == 2
    with django_assert_max_num_queries(6):
        assert len(client.get(URL, {"page_size": 40}).json()["results"]) == 40
    # A second identical read comes from the cache: no catalog query at all.
    with django_assert_max_num_queries(4):
        assert len(client.get(URL, {"page_size": 40}).json()["results"]) == 40
