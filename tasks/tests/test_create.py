"""Task create through the API: totals, snapshots, number, stock, bad input, idempotency."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agents.models import StockMovement
from events.models import TaskEvent
from tasks.models import DailySequence, IdempotencyKey, Task, TaskItem
from testing.events import assert_events

from .conftest import counts, ledger_ok

URL = "/api/v1/tasks/"


def _body(catalog, **extra):
    body = {
        "workspace": "A01",
        "customer_name": "Li Wei",
        "notes": "no peanuts",
        "discount": "10.00",
        "items": [
            {"agent_id": catalog.noodles.id, "quantity": 2, "notes": "extra spicy"},
            {"agent_id": catalog.duck.id, "quantity": 1},
            {"agent_id": catalog.tea.id, "quantity": 3},
        ],
    }
    body.update(extra)
    return body


def test_create_computes_totals_snapshots_number_and_takes_stock(acme, catalog):
    # One task.created event (duck keeps 9 of 10: above its low-stock threshold).
    with assert_events(1, types=["task.created"]) as events:
        response = acme.client("staff").post(URL, _body(catalog), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    task = Task.objects.get()
    # 2 x 32.00 + 128.00 + 3 x 12.50 = 229.50
    assert body["subtotal"] == "229.50"
    assert body["discount"] == "10.00"
    assert body["total"] == "219.50"
    assert body["status"] == "pending"
    assert body["workspace"] == "A01"
    assert body["created_by"] == acme.users["staff"].pk
    assert body["number"] == task.number
    assert len(task.number) == 11 and task.number.endswith("001")
    assert task.number[:8] == task.business_date.strftime("%Y%m%d")
    assert DailySequence.objects.get(business_date=task.business_date).last_value == 1
    assert body["created_at"].endswith("+08:00")  # the organization's timezone
    items = body["items"]
    assert [i["agent_name"] for i in items] == ["Beef noodles", "Peking duck", "Jasmine tea"]
    assert items[0] == {
        **items[0],
        "agent_id": catalog.noodles.id,
        "category_id": catalog.hot.id,
        "category_name": "Hot dishes",
        "unit_price": "32.00",
        "quantity": 2,
        "line_total": "64.00",
        "notes": "extra spicy",
        "done": False,
    }
    assert items[2]["category_id"] == catalog.drinks.id
    # Stock: only the limited agent moved, with a ledger line naming the task.
    assert ledger_ok(catalog.duck) and catalog.duck.stock == 9
    movement = StockMovement.objects.get(agent=catalog.duck, reason="task")
    assert (movement.delta, movement.task_id, movement.stock_after) == (-1, task.id, 9)
    # The task.created event carries the serialized task and its categories.
    event = TaskEvent.objects.get(type="task.created")
    assert event.task_id == task.id
    assert sorted(event.category_ids) == sorted({catalog.hot.id, catalog.drinks.id})
    assert event.payload == body
    assert events[0]["seq"] == event.seq and events[0]["data"] == body


def test_price_snapshot_survives_catalog_changes(acme, catalog):
    response = acme.client("staff").post(
        URL, {"items": [{"agent_id": catalog.noodles.id, "quantity": 1}]}, format="json"
    )
    catalog.noodles.unit_price = Decimal("99.00")
    catalog.noodles.name = "Renamed"
    catalog.noodles.save()
    detail = acme.client("staff").get(f"{URL}{response.json()['id']}/").json()
    assert detail["items"][0]["unit_price"] == "32.00"
    assert detail["items"][0]["agent_name"] == "Beef noodles"
    assert detail["total"] == "32.00"


def test_numbers_follow_the_daily_sequence(acme, catalog):
    client = acme.client("staff")
    body = {"items": [{"agent_id": catalog.tea.id, "quantity": 1}]}
    numbers = [client.post(URL, body, format="json").json()["number"] for _ in range(3)]
    assert [n[-3:] for n in numbers] == ["001", "002", "003"]
    assert len(set(n[:8] for n in numbers)) == 1


def test_sequence_past_999_uses_four_digits(acme, catalog):
    from organizations.business_day import business_date

    DailySequence.objects.create(business_date=business_date(acme.organization), last_value=999)
    response = acme.client("staff").post(
        URL, {"items": [{"agent_id": catalog.tea.id, "quantity": 1}]}, format="json"
    )
    assert response.json()["number"].endswith("1000")
    assert len(response.json()["number"]) == 12


def test_duplicate_agent_lines_stay_separate_and_take_stock_for_their_sum(acme, catalog):
    body = {
        "items": [
            {"agent_id": catalog.juice.id, "quantity": 2, "notes": "no ice"},
            {"agent_id": catalog.juice.id, "quantity": 3, "notes": "ice"},
        ]
    }
    response = acme.client("staff").post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert [i["quantity"] for i in response.json()["items"]] == [2, 3]
    assert ledger_ok(catalog.juice) and catalog.juice.stock == 0
    # The sum is checked against stock, not each line.
    again = acme.client("staff").post(
        URL, {"items": [{"agent_id": catalog.juice.id, "quantity": 1}]}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "INSUFFICIENT_STOCK"


def test_sold_out_and_low_stock_events_come_with_the_create(acme, catalog):
    # task.created is appended by cc_task_create; the stock events after it, by the threshold
    # rule in Python (agents.stock.stock_events_emit), in the same transaction; published in
    # that order after the commit.
    with assert_events(2, types=["task.created", "agent.low_stock"]) as events:
        acme.client("staff").post(
            URL, {"items": [{"agent_id": catalog.duck.id, "quantity": 7}]}, format="json"
        )
    types = list(TaskEvent.objects.order_by("seq").values_list("type", flat=True))
    assert types == ["task.created", "agent.low_stock"]
    seqs = list(TaskEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == sorted(seqs) and len(set(seqs)) == 2
    assert [event["seq"] for event in events] == seqs


def _assert_refused(acme, catalog, body, status, code, field=None, headers=None):
    before = counts()
    stocks = {a.id: a.stock for a in (catalog.duck, catalog.juice)}
    with assert_events(0):
        response = acme.client("staff").post(URL, body, format="json", **(headers or {}))
    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert error["code"] == code, error
    if field is not None:
        assert field in error["details"]["fields"], error
    assert counts() == before
    assert TaskItem.objects.count() == 0
    for agent in (catalog.duck, catalog.juice):
        agent.refresh_from_db()
        assert agent.stock == stocks[agent.id]
    return error


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda b, c: b.update(items=[]), "items"),
        (lambda b, c: b.pop("items"), "items"),
        (lambda b, c: b.update(items="noodles"), "items"),
        (lambda b, c: b.update(items=[{"agent_id": c.tea.id, "quantity": 1}] * 101), "items"),
        (lambda b, c: b["items"][0].update(quantity=0), "items"),
        (lambda b, c: b["items"][0].update(quantity=1000), "items"),
        (lambda b, c: b["items"][0].update(quantity=-1), "items"),
        (lambda b, c: b["items"][0].update(quantity="two"), "items"),
        (lambda b, c: b["items"][0].update(quantity=1.5), "items"),
        (lambda b, c: b["items"][0].update(agent_id="x"), "items"),
        (lambda b, c: b["items"][0].update(agent_id=None), "items"),
        (lambda b, c: b["items"][0].pop("agent_id"), "items"),
        (lambda b, c: b["items"][0].update(price="0.01"), "items"),
        (lambda b, c: b["items"][0].update(notes="x" * 201), "items"),
        (lambda b, c: b["items"][0].update(notes="a\x00b"), "items"),
        (lambda b, c: b.update(items=[5]), "items"),
        (lambda b, c: b.update(discount="-1.00"), "discount"),
        (lambda b, c: b.update(discount="1e20"), "discount"),
        (lambda b, c: b.update(discount="abc"), "discount"),
        (lambda b, c: b.update(discount="1.001"), "discount"),
        (lambda b, c: b.update(total="0.00"), "total"),
        (lambda b, c: b.update(status="completed"), "status"),
        (lambda b, c: b.update(workspace="W" * 21), "workspace"),
        (lambda b, c: b.update(customer_name="n" * 101), "customer_name"),
        (lambda b, c: b.update(notes="n" * 100_000), "notes"),
        (lambda b, c: b.update(notes="bad\x00byte"), "notes"),
        (lambda b, c: b.update(workspace=["A01"]), "workspace"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(acme, catalog, mutate, field):
    body = _body(catalog)
    mutate(body, catalog)
    _assert_refused(acme, catalog, body, 400, "VALIDATION_ERROR", field)


def test_discount_above_subtotal_is_refused(acme, catalog):
    body = {"items": [{"agent_id": catalog.tea.id, "quantity": 2}], "discount": "25.01"}
    _assert_refused(acme, catalog, body, 400, "VALIDATION_ERROR", "discount")


def test_discount_equal_to_subtotal_is_allowed(acme, catalog):
    body = {"items": [{"agent_id": catalog.tea.id, "quantity": 2}], "discount": "25.00"}
    response = acme.client("staff").post(URL, body, format="json")
    assert response.status_code == 201
    assert response.json()["total"] == "0.00"


def test_unknown_agent_is_a_400_naming_it(acme, catalog):
    body = _body(catalog)
    body["items"].append({"agent_id": 999_999, "quantity": 1})
    error = _assert_refused(acme, catalog, body, 400, "AGENT_NOT_FOUND", "items")
    assert error["details"]["agent_ids"] == [999_999]
    assert error["details"]["fields"]["items"][3] == {"agent_id": ["Unknown agent."]}


def test_unavailable_agent_is_a_409_naming_it(acme, catalog):
    body = _body(catalog)
    body["items"].append({"agent_id": catalog.seasonal.id, "quantity": 1})
    error = _assert_refused(acme, catalog, body, 409, "AGENT_UNAVAILABLE")
    assert error["details"]["agents"] == [{"agent_id": catalog.seasonal.id, "name": "Hairy crab"}]


def test_insufficient_stock_is_a_409_naming_every_short_agent(acme, catalog):
    body = {
        "items": [
            {"agent_id": catalog.noodles.id, "quantity": 1},
            {"agent_id": catalog.duck.id, "quantity": 11},
            {"agent_id": catalog.juice.id, "quantity": 6},
        ]
    }
    error = _assert_refused(acme, catalog, body, 409, "INSUFFICIENT_STOCK")
    assert [a["agent_id"] for a in error["details"]["agents"]] == sorted(
        [catalog.duck.id, catalog.juice.id]
    )
    assert error["details"]["agents"][0]["available"] in (10, 5)


def test_body_that_is_not_an_object_is_refused(acme, catalog):
    _assert_refused(acme, catalog, [1, 2], 400, "VALIDATION_ERROR")


def test_malformed_json_is_refused(acme, catalog):
    before = counts()
    response = acme.client("staff").post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MALFORMED_REQUEST"
    assert counts() == before


def test_create_permissions(acme, globex, catalog):
    body = {"items": [{"agent_id": catalog.tea.id, "quantity": 1}]}
    assert acme.client().post(URL, body, format="json").status_code == 401
    # A token of another organization is not valid here.
    foreign = globex.client("owner")
    foreign.defaults["HTTP_HOST"] = acme.host
    assert foreign.post(URL, body, format="json").status_code == 401
    for role in ("staff", "manager", "owner"):
        assert acme.client(role).post(URL, body, format="json").status_code == 201
    # The agent ids of acme mean nothing on globex.
    response = globex.client("staff").post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "AGENT_NOT_FOUND"


# --- Idempotency-Key ---------------------------------------------------------------------------


def test_same_key_and_body_replays_the_first_response(acme, catalog):
    client = acme.client("staff")
    body = _body(catalog)
    first = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    second = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Task.objects.count() == 1
    assert catalog.duck.__class__.objects.get(pk=catalog.duck.pk).stock == 9
    record = IdempotencyKey.objects.get()
    assert record.task_id == first.json()["id"] and record.response_status == 201


def test_same_key_different_body_is_a_422(acme, catalog):
    client = acme.client("staff")
    client.post(URL, _body(catalog), format="json", HTTP_IDEMPOTENCY_KEY="k")
    other = client.post(URL, _body(catalog, notes="x"), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert Task.objects.count() == 1


def test_keys_are_per_user(acme, catalog):
    body = _body(catalog)
    acme.client("staff").post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    response = acme.client("manager").post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 201
    assert Task.objects.count() == 2


def test_key_in_flight_is_a_409(acme, catalog):
    import psycopg

    from tasks.idempotency import _lock_id, request_fingerprint

    from .test_idempotency_owner import _dsn

    body = _body(catalog)
    IdempotencyKey.objects.create(
        key="busy", user=acme.users["staff"], request_hash=request_fingerprint(body)
    )
    # In flight = its owner's session holds the key's lock (tests/test_idempotency_owner.py).
    with psycopg.connect(_dsn(), autocommit=True) as owner:
        owner.execute(
            "SELECT pg_advisory_lock(%s)", [_lock_id(user_id=acme.users["staff"].pk, key="busy")]
        )
        response = acme.client("staff").post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert Task.objects.count() == 0


def test_abandoned_and_expired_keys_are_taken_over(acme, catalog):
    from tasks.idempotency import request_fingerprint

    body = _body(catalog)
    staff = acme.users["staff"]
    IdempotencyKey.objects.create(
        key="stale",
        user=staff,
        request_hash=request_fingerprint(body),
        created_at=timezone.now() - timedelta(minutes=5),
    )
    IdempotencyKey.objects.create(
        key="old",
        user=staff,
        request_hash="something else",
        response_status=201,
        response_body={"id": 0},
        created_at=timezone.now() - timedelta(hours=25),
    )
    client = acme.client("staff")
    assert client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="stale").status_code == 201
    assert client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="old").status_code == 201
    assert Task.objects.count() == 2


def test_a_refused_create_releases_its_key(acme, catalog):
    client = acme.client("staff")
    body = {"items": [{"agent_id": catalog.juice.id, "quantity": 6}]}
    first = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert first.status_code == 409
    assert IdempotencyKey.objects.count() == 0
    # Stock arrives; the client retries with the same key and succeeds.
    catalog.juice.__class__.objects.filter(pk=catalog.juice.pk).update(stock=6)
    StockMovement.objects.create(agent=catalog.juice, delta=1, reason="adjustment", stock_after=6)
    second = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert second.status_code == 201


def test_bad_idempotency_key_is_a_400(acme, catalog):
    response = acme.client("staff").post(
        URL, _body(catalog), format="json", HTTP_IDEMPOTENCY_KEY="k" * 256
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["details"]["fields"]
    assert counts() == (0, 2, 0)  # the two initial-stock movements of the catalog


def test_create_query_count_does_not_grow_with_items(acme, catalog):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from testing.factories import agent_make

    limited = [
        agent_make(name=f"Dish {i}", category=catalog.hot, price="10.00", stock=100)
        for i in range(20)
    ]
    client = acme.client("staff")
    counts_by_size = {}
    for size in (1, 20):
        body = {"items": [{"agent_id": a.id, "quantity": 1} for a in limited[:size]]}
        with CaptureQueriesContext(connection) as captured:
            assert client.post(URL, body, format="json").status_code == 201
        counts_by_size[size] = len(captured)
    assert counts_by_size[1] == counts_by_size[20], counts_by_size
    assert counts_by_size[20] <= 18, counts_by_size


def test_fast_representation_matches_the_declared_serializer(acme, catalog):
    from tasks.serializers import TaskSerializer
    from tasks.services import task_create, task_item_set_done, task_transition

    task = task_create(
        user=acme.users["staff"],
        items=[
            {"agent_id": catalog.noodles.id, "quantity": 2, "notes": "n"},
            {"agent_id": catalog.tea.id, "quantity": 1, "notes": ""},
        ],
        workspace="A1",
        customer_name="Wang",
        notes="x",
        discount=Decimal("1.5"),
    )
    item = task.items.first()
    task_item_set_done(task_id=task.pk, item_id=item.id, done=True)
    task_transition(task_id=task.pk, to_status="cancelled", reason="because")
    task = Task.objects.prefetch_related("items").get(pk=task.pk)
    serializer = TaskSerializer()
    fast = serializer.to_representation(task)
    assert fast == dict(serializer.generic_representation(task))
    assert fast["items"][0]["done_at"] is not None and fast["cancelled_at"].endswith("+08:00")
    assert fast["discount"] == "1.50"
    # UTC renders as DRF does ("Z"), outside any organization too.
    acme.organization.timezone, original = "UTC", acme.organization.timezone
    try:
        fast = serializer.to_representation(task)
        assert fast == dict(serializer.generic_representation(task))
        assert fast["created_at"].endswith("Z")
    finally:
        acme.organization.timezone = original
