"""Stock adjustments and the ledger: /agents/{id}/stock-adjustments/ and /stock-movements/."""

import pytest

from agents.choices import StockReason
from agents.models import Agent, StockMovement
from events.choices import EventType
from events.models import TaskEvent

from .conftest import error_fields


def adjust_url(pk) -> str:
    return f"/api/v1/agents/{pk}/stock-adjustments/"


def movements_url(pk) -> str:
    return f"/api/v1/agents/{pk}/stock-movements/"


def ledger_holds(agent_id: int) -> bool:
    agent = Agent.objects.get(pk=agent_id)
    total = sum(StockMovement.objects.filter(agent_id=agent_id).values_list("delta", flat=True))
    return total == (agent.stock or 0)


# --- adjustments: auth, roles, tenancy -------------------------------------------------------


def test_adjust_anonymous_is_401(acme, acme_catalog):
    response = acme.client().post(adjust_url(acme_catalog.agents[0].pk), {"delta": 1})
    assert response.status_code == 401


def test_adjust_staff_is_403(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    response = acme.client("staff").post(
        adjust_url(agent.pk), {"delta": 1, "reason": "x"}, format="json"
    )
    assert response.status_code == 403
    assert Agent.objects.get(pk=agent.pk).stock == 10


def test_adjust_other_organizations_agent_is_404(acme, globex, globex_catalog):
    foreign = globex_catalog.agents[0]
    response = acme.client("owner").post(
        adjust_url(foreign.pk), {"delta": -1, "reason": "x"}, format="json"
    )
    assert response.status_code == 404
    with globex.active():
        assert Agent.objects.get(pk=foreign.pk).stock == 10


# --- adjustments: happy paths ----------------------------------------------------------------


def test_adjust_delta(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    response = acme.client("manager").post(
        adjust_url(agent.pk), {"delta": -4, "reason": "spilled"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["agent"]["stock"] == 6
    movement = body["movement"]
    assert (movement["delta"], movement["reason"], movement["stock_after"]) == (
        -4,
        StockReason.ADJUSTMENT,
        6,
    )
    assert movement["note"] == "spilled"
    assert movement["user_email"] == "manager@acme.test"
    assert ledger_holds(agent.pk)


def test_adjust_to_low_stock_then_sold_out_emits_events(acme, acme_catalog):
    agent = acme_catalog.agents[0]  # stock 10, threshold 2
    client = acme.client("manager")
    assert client.post(adjust_url(agent.pk), {"delta": -8, "reason": "a"}).status_code == 201
    assert client.post(adjust_url(agent.pk), {"delta": -2, "reason": "b"}).status_code == 201
    events = list(TaskEvent.objects.filter(payload__agent_id=agent.pk).order_by("seq"))
    assert [e.type for e in events] == [EventType.AGENT_LOW_STOCK, EventType.AGENT_SOLD_OUT]
    assert events[1].payload["stock"] == 0
    assert events[1].category_ids == [agent.category_id]
    body = acme.client("staff").get(f"/api/v1/agents/{agent.pk}/").json()
    assert body["is_sold_out"] is True


def test_adjust_below_zero_is_409_and_writes_nothing(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    response = acme.client("manager").post(
        adjust_url(agent.pk), {"delta": -11, "reason": "x"}, format="json"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "INSUFFICIENT_STOCK"
    assert error["details"]["agents"][0] == {
        "agent_id": agent.pk,
        "name": agent.name,
        "requested": 11,
        "available": 10,
    }
    assert Agent.objects.get(pk=agent.pk).stock == 10
    assert StockMovement.objects.filter(agent_id=agent.pk).count() == 1


def test_adjust_unlimited_agent_is_409(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    client = acme.client("manager")
    assert (
        client.post(adjust_url(agent.pk), {"set_unlimited": True, "reason": "x"}).status_code == 201
    )
    response = client.post(adjust_url(agent.pk), {"delta": 1, "reason": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "STOCK_UNLIMITED"


def test_adjust_above_maximum_is_409(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    response = acme.client("manager").post(
        adjust_url(agent.pk), {"delta": 1_000_000, "reason": "x"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "STOCK_TOO_HIGH"


def test_unlimited_and_back_keeps_the_ledger_identity(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    client = acme.client("manager")
    response = client.post(adjust_url(agent.pk), {"set_unlimited": True, "reason": "no limit"})
    assert response.status_code == 201
    assert response.json()["agent"]["stock"] is None
    assert response.json()["movement"]["delta"] == -10
    assert ledger_holds(agent.pk)
    response = client.post(adjust_url(agent.pk), {"set_limited": 2, "reason": "daily special"})
    assert response.status_code == 201
    assert response.json()["agent"]["stock"] == 2
    assert response.json()["movement"]["reason"] == StockReason.INITIAL
    assert ledger_holds(agent.pk)
    # set_limited on a limited agent is refused.
    response = client.post(adjust_url(agent.pk), {"set_limited": 5, "reason": "again"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "STOCK_ALREADY_LIMITED"
    # Limiting to a stock at or under the threshold announces it.
    assert TaskEvent.objects.filter(
        type=EventType.AGENT_LOW_STOCK, payload__agent_id=agent.pk
    ).exists()


def test_set_unlimited_twice_is_409(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    client = acme.client("manager")
    assert (
        client.post(adjust_url(agent.pk), {"set_unlimited": True, "reason": "a"}).status_code == 201
    )
    response = client.post(adjust_url(agent.pk), {"set_unlimited": True, "reason": "b"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "STOCK_UNLIMITED"


# --- adjustments: bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"delta": 0, "reason": "x"}, "delta"),
        ({"delta": "3", "reason": "x"}, "delta"),
        ({"delta": 1.5, "reason": "x"}, "delta"),
        ({"delta": True, "reason": "x"}, "delta"),
        ({"delta": None, "reason": "x"}, "delta"),
        ({"delta": 10**12, "reason": "x"}, "delta"),
        ({"delta": 1}, "reason"),
        ({"delta": 1, "reason": ""}, "reason"),
        ({"delta": 1, "reason": "x" * 201}, "reason"),
        ({"delta": 1, "reason": "a\x00b"}, "reason"),
        ({"delta": 1, "reason": "x", "user": 1}, "user"),
        ({"reason": "x"}, "delta"),
        ({"delta": 1, "set_limited": 3, "reason": "x"}, "set_limited"),
        ({"set_limited": -1, "reason": "x"}, "set_limited"),
        ({"set_unlimited": False, "reason": "x"}, "set_unlimited"),
        ({"set_unlimited": "true", "reason": "x"}, "set_unlimited"),
    ],
)
def test_adjust_bad_input_is_400(acme, acme_catalog, payload, field):
    agent = acme_catalog.agents[0]
    response = acme.client("manager").post(adjust_url(agent.pk), payload, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert field in error_fields(response)
    assert Agent.objects.get(pk=agent.pk).stock == 10
    assert StockMovement.objects.filter(agent_id=agent.pk).count() == 1


def test_adjust_body_not_an_object_is_400(acme, acme_catalog):
    response = acme.client("manager").post(
        adjust_url(acme_catalog.agents[0].pk), [1, 2], format="json"
    )
    assert response.status_code == 400


# --- the ledger endpoint ---------------------------------------------------------------------


def test_movements_anonymous_is_401(acme, acme_catalog):
    assert acme.client().get(movements_url(acme_catalog.agents[0].pk)).status_code == 401


def test_movements_other_organization_is_404(acme, globex, globex_catalog):
    response = acme.client("staff").get(movements_url(globex_catalog.agents[0].pk))
    assert response.status_code == 404


def test_movements_token_without_membership_is_401(acme, globex, acme_catalog):
    # A globex token on acme's host: refused before any role check.
    client = globex.client("staff")
    client.defaults["HTTP_HOST"] = acme.host
    assert client.get(movements_url(acme_catalog.agents[0].pk)).status_code == 401


def test_movements_newest_first_and_paginated(acme, acme_catalog):
    agent = acme_catalog.agents[0]
    manager = acme.client("manager")
    for delta in (1, 2, 3):
        manager.post(adjust_url(agent.pk), {"delta": delta, "reason": f"+{delta}"})
    body = acme.client("staff").get(movements_url(agent.pk), {"page_size": 2}).json()
    assert body["count"] == 4
    assert [m["delta"] for m in body["results"]] == [3, 2]
    assert body["next"]
    last = acme.client("staff").get(movements_url(agent.pk), {"page": 2, "page_size": 2}).json()
    assert [(m["delta"], m["reason"]) for m in last["results"]] == [
        (1, "adjustment"),
        (10, "initial"),
    ]


def test_movements_query_count_does_not_grow(acme, acme_catalog, django_assert_max_num_queries):
    agent = acme_catalog.agents[0]
    manager = acme.client("manager")
    for _ in range(12):
        manager.post(adjust_url(agent.pk), {"delta": 1, "reason": "restock"})
    client = acme.client("staff")
    # SETs x2, domain, membership, agent (access), count, page (with users).
    with django_assert_max_num_queries(7):
        assert len(client.get(movements_url(agent.pk), {"page_size": 2}).json()["results"]) == 2
    with django_assert_max_num_queries(7):
        assert len(client.get(movements_url(agent.pk), {"page_size": 13}).json()["results"]) == 13
