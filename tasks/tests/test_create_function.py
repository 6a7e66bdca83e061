"""``cc_task_create``, the PL/pgSQL write half of task create, called directly in a schema.

The arguments are built the way ``tasks.services.task_create`` builds them (prices snapshotted,
limited agents' quantities summed in ascending id order, the ``task.created`` payload without
ids); the function must refuse without writing anything, or write the whole task.
"""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from agents.models import Agent, StockMovement
from events.models import EventCounter, TaskEvent
from events.services import event_actor
from organizations.business_day import business_date
from tasks.models import DailySequence, Task, TaskItem
from tasks.services import _create_write, task_create, task_item_snapshot, task_serialize
from testing.factories import agent_make, category_make

from .conftest import counts, ledger_ok


def build_call(
    lines, *, user=None, now=None, discount="0.00", notes="", take=None, priority="normal"
):
    """(arguments, payload) for ``lines`` of ``(agent, quantity, notes)``, as the service builds
    them. ``take``: override the limited agents' quantities (ids the catalog may not have)."""
    now = now or timezone.now()
    items = []
    quantities = defaultdict(int)
    for agent, quantity, line_notes in lines:
        items.append(
            task_item_snapshot(
                agent, category_name=agent.category.name, quantity=quantity, notes=line_notes
            )
        )
        if agent.stock is not None:
            quantities[agent.id] += quantity
    subtotal = sum((item.line_total for item in items), Decimal("0.00"))
    task = Task(
        business_date=business_date(connection.tenant, now),
        status="pending",
        priority=priority,
        workspace="B07",
        customer_name="Zhang San",
        notes=notes,
        subtotal=subtotal,
        discount=Decimal(discount),
        total=subtotal - Decimal(discount),
        created_by_id=user.pk if user else None,
        created_at=now,
        updated_at=now,
    )
    take = dict(sorted(quantities.items())) if take is None else take
    categories = sorted({item.category_id_snapshot for item in items})
    payload = task_serialize(task, items)
    arguments = {
        "task": task,
        "take": take,
        "payload": payload,
        "categories": categories,
        "actor": event_actor(user=user),
    }
    return arguments, payload


def call(arguments) -> dict:
    """The function's answer, through the service's own call (``tasks.services._create_write``:
    the SQL and the argument order are the service's, not a copy)."""
    return _create_write(**arguments)


def snapshot() -> dict:
    """Everything a create may write, for 'nothing was written' checks."""
    return {
        "counts": counts(),
        "items": TaskItem.objects.count(),
        "sequences": list(DailySequence.objects.order_by("business_date").values_list()),
        "event_counter": list(EventCounter.objects.values_list()),
        "stocks": dict(Agent.objects.values_list("id", "stock")),
    }


def test_missing_limited_agent_returns_agent_not_found_and_writes_nothing(acme, catalog):
    # One create first: the day's sequence row exists, and must not move.
    assert "error" not in call(build_call([(catalog.tea, 1, "")])[0])
    before = snapshot()
    missing = Agent.objects.order_by("-id").values_list("id", flat=True).first() + 1000
    ghost = Agent(
        id=missing,
        name="Deleted meanwhile",
        category=catalog.hot,
        unit_price=Decimal("5.00"),
        stock=3,
    )
    arguments, _payload = build_call(
        [(catalog.duck, 1, ""), (ghost, 2, ""), (catalog.noodles, 1, "")]
    )
    assert list(arguments["take"]) == [catalog.duck.id, missing]
    assert call(arguments) == {"error": "AGENT_NOT_FOUND", "agent_ids": [missing]}
    assert snapshot() == before
    # No gap in the numbers: the next create takes sequence 2.
    result = call(build_call([(catalog.tea, 1, "")])[0])
    assert result["number"].endswith("002") and result["sequence"] == 2


def test_short_stock_returns_insufficient_stock_and_writes_nothing(acme, catalog):
    scarce = agent_make(name="Scarce soup", category=catalog.hot, price="18.00", stock=2)
    before = snapshot()
    # The duck (stock 10) is fine; the soup is short; the juice (stock 5) is short too.
    arguments, _payload = build_call(
        [(catalog.duck, 4, ""), (scarce, 3, ""), (catalog.juice, 4, ""), (catalog.juice, 2, "")]
    )
    result = call(arguments)
    assert result == {
        "error": "INSUFFICIENT_STOCK",
        "agents": sorted(
            [
                {"agent_id": scarce.id, "name": "Scarce soup", "requested": 3, "available": 2},
                {
                    "agent_id": catalog.juice.id,
                    "name": "Orange juice",
                    "requested": 6,
                    "available": 5,
                },
            ],
            key=lambda row: row["agent_id"],
        ),
    }
    assert snapshot() == before
    for agent in (scarce, catalog.duck, catalog.juice):
        assert ledger_ok(agent)
    assert scarce.stock == 2


def test_valid_call_writes_the_task_items_stock_and_its_event(acme, catalog):
    user = acme.users["staff"]
    now = timezone.now()
    EventCounter.objects.update_or_create(id=1, defaults={"last_seq": 41})
    lines = [
        (catalog.noodles, 2, "extra spicy"),  # unlimited
        (catalog.juice, 3, "no ice"),  # stock 5 ...
        (catalog.duck, 7, ""),  # stock 10, threshold 3: 3 left, low stock
        (catalog.tea, 1, ""),  # unlimited
        (catalog.juice, 2, "ice"),  # ... 5 taken in all: sold out
    ]
    arguments, payload = build_call(
        lines, user=user, now=now, discount="5.00", notes="rush", priority="rush"
    )
    assert arguments["take"] == {catalog.duck.id: 7, catalog.juice.id: 5}
    result = call(arguments)
    assert "error" not in result, result

    task = Task.objects.get()
    day = business_date(acme.organization, now)
    assert task.id == result["task_id"]
    assert task.number == result["number"] == f"{day:%Y%m%d}001"
    assert task.sequence == result["sequence"] == 1 and task.business_date == day
    assert DailySequence.objects.get(business_date=day).last_value == 1
    assert (task.status, task.priority, task.workspace, task.customer_name, task.notes) == (
        "pending",
        "rush",
        "B07",
        "Zhang San",
        "rush",
    )
    # 2 x 32.00 + 5 x 22.00 + 7 x 128.00 + 12.50 = 1082.50
    assert (task.subtotal, task.discount, task.total) == (
        Decimal("1082.50"),
        Decimal("5.00"),
        Decimal("1077.50"),
    )
    assert task.created_by_id == user.pk and task.created_at == now == task.updated_at

    # The items, in the order given, under the ids returned.
    items = list(TaskItem.objects.filter(task=task).order_by("id"))
    assert [item.id for item in items] == result["item_ids"]
    assert [(i.agent_id, i.quantity, i.notes) for i in items] == [
        (agent.id, quantity, notes) for agent, quantity, notes in lines
    ]
    assert [(i.unit_price, i.line_total) for i in items][:2] == [
        (Decimal("32.00"), Decimal("64.00")),
        (Decimal("22.00"), Decimal("66.00")),
    ]
    assert items[2].category_id_snapshot == catalog.hot.id
    assert items[2].category_name == "Hot dishes" and items[2].agent_name == "Peking duck"
    assert not any(item.done for item in items)

    # One movement per limited agent (the juice's two lines summed), the ledger still adds up.
    movements = StockMovement.objects.filter(reason="task").order_by("agent_id")
    assert [(m.agent_id, m.delta, m.stock_after, m.task_id, m.user_id) for m in movements] == [
        (catalog.duck.id, -7, 3, task.id, user.pk),
        (catalog.juice.id, -5, 0, task.id, user.pk),
    ]
    assert ledger_ok(catalog.duck) and ledger_ok(catalog.juice)
    assert (catalog.duck.stock, catalog.juice.stock) == (3, 0)
    catalog.noodles.refresh_from_db()
    catalog.tea.refresh_from_db()
    assert catalog.noodles.stock is None and catalog.tea.stock is None
    assert not StockMovement.objects.filter(agent__in=[catalog.noodles, catalog.tea]).exists()

    # One event, task.created (through cc_event_append), with the actor passed in. The stock
    # crossings are not the function's to decide: it returns each taken agent's level as
    # locked, and the service appends what the threshold rule calls for (test_create.py).
    (created,) = TaskEvent.objects.order_by("seq")
    assert (created.seq, created.type, created.task_id) == (42, "task.created", task.id)
    assert EventCounter.objects.get().last_seq == 42 == result["task_event_seq"]
    assert created.actor == event_actor(user=user) == arguments["actor"]
    assert result["stock"] == [
        {
            "id": catalog.duck.id,
            "name": "Peking duck",
            "category_id": catalog.hot.id,
            "low_stock_threshold": 3,
            "stock_after": 3,
        },
        {
            "id": catalog.juice.id,
            "name": "Orange juice",
            "category_id": catalog.drinks.id,
            "low_stock_threshold": 0,
            "stock_after": 0,
        },
    ]
    assert created.category_ids == sorted([catalog.hot.id, catalog.drinks.id])
    assert created.at == now

    # task.created carries the payload passed in with the ids and number filled in, which is
    # exactly the representation of the rows now in the database.
    assert created.payload["id"] == task.id and created.payload["number"] == task.number
    assert [item["id"] for item in created.payload["items"]] == result["item_ids"]
    expected = {
        **payload,
        "id": task.id,
        "number": task.number,
        "items": [
            {**item, "id": item_id}
            for item, item_id in zip(payload["items"], result["item_ids"], strict=True)
        ],
    }
    assert created.payload == expected
    assert created.payload == task_serialize(task, items)


def test_unlimited_only_call_takes_no_stock_and_emits_only_task_created(acme, catalog):
    arguments, _payload = build_call([(catalog.noodles, 1, ""), (catalog.tea, 2, "")])
    assert arguments["take"] == {}
    result = call(arguments)
    assert result["stock"] == [] and len(result["item_ids"]) == 2
    assert list(TaskEvent.objects.values_list("type", flat=True)) == ["task.created"]
    assert not StockMovement.objects.filter(reason="task").exists()


def test_sequences_follow_each_business_day(acme, catalog):
    now = timezone.now()
    first = call(build_call([(catalog.tea, 1, "")], now=now)[0])
    second = call(build_call([(catalog.tea, 1, "")], now=now)[0])
    tomorrow = call(build_call([(catalog.tea, 1, "")], now=now + timedelta(days=1))[0])
    assert (first["sequence"], second["sequence"], tomorrow["sequence"]) == (1, 2, 1)
    assert first["number"][:8] == second["number"][:8] != tomorrow["number"][:8]
    assert len({first["number"], second["number"], tomorrow["number"]}) == 3


def test_each_schema_runs_its_own_function_on_its_own_tables(acme, globex, catalog):
    """One connection, two organizations: the function (and its cached plans) write into the
    schema of the tenant set on the connection."""
    call(build_call([(catalog.duck, 1, "")])[0])
    with globex.active():
        globex_catalog = _small_catalog()
        before = Task.objects.count()
        result = call(build_call([(globex_catalog, 2, "")])[0])
        assert Task.objects.count() == before + 1
        assert Task.objects.filter(pk=result["task_id"], number=result["number"]).exists()
        globex_catalog.refresh_from_db()
        assert globex_catalog.stock == 2 and ledger_ok(globex_catalog)
    # Back on acme's schema.
    assert Task.objects.count() == 1
    assert not TaskItem.objects.filter(agent_id=globex_catalog.id, quantity=2).exists()
    assert ledger_ok(catalog.duck) and catalog.duck.stock == 9


def _small_catalog() -> Agent:
    category = category_make(name="Globex mains")
    return agent_make(name="Globex stew", category=category, price="15.00", stock=4)


def test_a_new_organization_has_the_function(committed_org):
    """Organizations are cloned from the template schema: the function comes with it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname = 'cc_task_create' AND n.nspname IN (%s, 'public')",
            [committed_org.schema],
        )
        assert [row[0] for row in cursor.fetchall()] == [committed_org.schema]

    from testing.factories import catalog_make

    catalog = catalog_make()
    task = task_create(
        user=committed_org.users["staff"],
        items=[
            {"agent_id": catalog.juice.id, "quantity": 5, "notes": ""},
            {"agent_id": catalog.tea.id, "quantity": 1, "notes": "hot"},
        ],
    )
    assert task.number.endswith("001")
    stored = Task.objects.get(pk=task.pk)
    assert stored.number == task.number
    assert list(TaskItem.objects.filter(task=stored).values_list("agent_id", "quantity")) == [
        (catalog.juice.id, 5),
        (catalog.tea.id, 1),
    ]
    assert ledger_ok(catalog.juice) and catalog.juice.stock == 0
    assert list(TaskEvent.objects.order_by("seq").values_list("type", flat=True)) == [
        "task.created",
        "agent.sold_out",
    ]


def test_unlimited_agent_deleted_between_read_and_write_is_agent_not_found(
    committed_org, monkeypatch
):
    """The race the function cannot lock against: an unlimited agent (never locked) deleted,
    for real and committed, after the service's read. Its item's foreign key fails when the
    create's statement commits: 400 AGENT_NOT_FOUND naming it, nothing written."""
    import pytest

    from agents.selectors import agents_orderable
    from tasks import services
    from tasks.errors import AgentNotFound
    from testing.factories import catalog_make

    catalog = catalog_make()
    doomed = agent_make(name="Doomed dish", category=catalog.hot, price="9.00")
    sequences = list(DailySequence.objects.values_list("business_date", "last_value"))

    def read_then_delete(*, ids):
        rows = agents_orderable(ids=ids)
        Agent.objects.filter(pk=doomed.pk).delete()  # autocommit: committed at once
        return rows

    monkeypatch.setattr(services, "agents_orderable", read_then_delete)
    with pytest.raises(AgentNotFound) as refused:
        task_create(
            user=committed_org.users["staff"],
            items=[
                {"agent_id": catalog.juice.id, "quantity": 1, "notes": ""},
                {"agent_id": doomed.id, "quantity": 1, "notes": ""},
            ],
        )
    assert refused.value.details == {"agent_ids": [doomed.id]}
    assert counts() == (0, 2, 0)  # the two initial movements of duck and juice only
    assert list(DailySequence.objects.values_list("business_date", "last_value")) == sequences
    assert ledger_ok(catalog.juice) and catalog.juice.stock == 5
