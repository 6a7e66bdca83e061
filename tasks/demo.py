"""Demo data: a Chinese restaurant catalog and 30 days of realistic history.

``seed_demo_catalog(org)`` and ``seed_demo_history(org, days=..., progress=...)`` run inside
``tenant_context(org)`` (``manage.py seed_demo``). Both are idempotent: the catalog is skipped
when the organization already has categories, the history when any task exists in the history
range. History uses unlimited-stock agents only, so the stock ledger is untouched and stays
consistent; numbers follow ``DailySequence`` (its rows are raised to the day's count). History
writes no ``TaskEvent``: screens replay live events, not last month.
"""

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce

from accounts.models import Membership
from agents.choices import StockReason
from agents.models import Agent, AgentCategory, StockMovement
from organizations.business_day import business_date, org_zone

from .choices import TaskStatus
from .models import Task, TaskItem
from .services import task_item_snapshot, task_number

# (category, sort order, [(agent, price CNY, stock or None, low-stock threshold)])
DEMO_CATALOG = [
    (
        "冷菜 Cold dishes",
        10,
        [
            ("拍黄瓜 Smashed cucumber", "18.00", None, 0),
            ("口水鸡 Mouth-watering chicken", "38.00", None, 0),
            ("凉拌木耳 Wood-ear mushroom salad", "22.00", None, 0),
            ("夫妻肺片 Sliced beef in chili oil", "42.00", 20, 5),
        ],
    ),
    (
        "热菜 Hot dishes",
        20,
        [
            ("宫保鸡丁 Kung Pao chicken", "42.00", None, 0),
            ("鱼香肉丝 Yu-Xiang shredded pork", "36.00", None, 0),
            ("麻婆豆腐 Mapo tofu", "28.00", None, 0),
            ("红烧肉 Braised pork belly", "58.00", None, 0),
            ("糖醋里脊 Sweet and sour pork", "46.00", None, 0),
            ("清炒时蔬 Stir-fried seasonal greens", "22.00", None, 0),
            ("干煸四季豆 Dry-fried green beans", "26.00", None, 0),
            ("水煮鱼 Sichuan boiled fish", "88.00", 15, 5),
            ("北京烤鸭(半只) Peking duck (half)", "128.00", 10, 3),
        ],
    ),
    (
        "主食 Staples",
        30,
        [
            ("米饭 Steamed rice", "3.00", None, 0),
            ("扬州炒饭 Yangzhou fried rice", "28.00", None, 0),
            ("兰州牛肉面 Lanzhou beef noodles", "32.00", None, 0),
            ("葱油饼 Scallion pancake", "12.00", None, 0),
            ("小笼包 Soup dumplings (8)", "26.00", 40, 10),
        ],
    ),
    (
        "饮品 Drinks",
        40,
        [
            ("酸梅汤 Sour plum drink", "12.00", None, 0),
            ("青岛啤酒 Tsingtao beer", "15.00", None, 0),
            ("可乐 Cola", "8.00", None, 0),
            ("龙井茶(壶) Longjing tea (pot)", "38.00", None, 0),
            ("鲜榨橙汁 Fresh orange juice", "22.00", 30, 8),
        ],
    ),
]

CANCEL_REASONS = [
    "Customer left",
    "客人取消 Customer cancelled",
    "Ordered by mistake",
    "Out of ingredients",
]


@transaction.atomic
def seed_demo_catalog(org) -> None:
    """Categories and 23 agents with CNY prices, a few with limited stock (ledger included)."""
    if AgentCategory.objects.exists():
        return
    for name, sort_order, agents in DEMO_CATALOG:
        category = AgentCategory.objects.create(name=name, sort_order=sort_order)
        created = Agent.objects.bulk_create(
            [
                Agent(
                    name=agent_name,
                    category=category,
                    unit_price=Decimal(price),
                    stock=stock,
                    low_stock_threshold=threshold,
                )
                for agent_name, price, stock, threshold in agents
            ]
        )
        StockMovement.objects.bulk_create(
            [
                StockMovement(
                    agent=agent,
                    delta=agent.stock,
                    reason=StockReason.INITIAL,
                    stock_after=agent.stock,
                    note="demo seed",
                )
                for agent in created
                if agent.stock is not None
            ]
        )


def _peak_windows(org) -> list[tuple[int, int]]:
    """The organization's peak windows in minutes after local midnight."""
    windows = []
    for window in org.peak_windows or []:
        try:
            start, end = (int(t[:2]) * 60 + int(t[3:5]) for t in window)
        except (TypeError, ValueError, IndexError):
            continue
        if start < end:
            windows.append((start, end))
    return windows or [(11 * 60, 14 * 60), (17 * 60, 21 * 60)]


def _minute_of_day(rng: random.Random, windows: list[tuple[int, int]]) -> float:
    """A moment of the opening hours (10:00-22:00), most of them inside a peak window."""
    if rng.random() < 0.85:
        start, end = rng.choice(windows)
        middle, spread = (start + end) / 2, (end - start) / 4
        return min(max(rng.gauss(middle, spread), start), end - 1)
    return rng.uniform(10 * 60, 22 * 60)


def _day_tasks(
    *,
    org,
    day: date,
    rng: random.Random,
    agents: list[Agent],
    weights: list[float],
    user_ids: list[int],
    windows: list[tuple[int, int]],
) -> list[tuple[Task, list[TaskItem]]]:
    zone = org_zone(org)
    weekend = day.weekday() in (4, 5)  # Friday and Saturday nights are the busy ones
    count = rng.randint(95, 135) if weekend else rng.randint(60, 95)
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    moments = sorted(
        midnight + timedelta(minutes=_minute_of_day(rng, windows)) for _ in range(count)
    )
    out = []
    for sequence, created_at in enumerate(moments, start=1):
        peak = any(
            start <= created_at.hour * 60 + created_at.minute < end for start, end in windows
        )
        items = []
        for agent in rng.choices(agents, weights=weights, k=rng.randint(1, 5)):
            quantity = rng.choice((1, 1, 1, 2, 2, 3)) if agent.unit_price < 10 else 1
            items.append(
                task_item_snapshot(agent, category_name=agent.category.name, quantity=quantity)
            )
        subtotal = sum((item.line_total for item in items), Decimal("0.00"))
        discount = Decimal("0.00")
        if rng.random() < 0.12:
            discount = min(subtotal, (subtotal * Decimal("0.1")).quantize(Decimal("1")))
        task = Task(
            number=task_number(day, sequence),
            business_date=day,
            sequence=sequence,
            workspace=rng.choice(("A", "B", "C")) + f"{rng.randint(1, 20):02d}",
            subtotal=subtotal,
            discount=discount,
            total=subtotal - discount,
            created_by_id=rng.choice(user_ids) if user_ids else None,
            created_at=created_at,
        )
        roll = rng.random()
        if roll < 0.05:
            task.status = TaskStatus.CANCELLED
            if rng.random() < 0.5:
                task.accepted_at = created_at + timedelta(minutes=rng.uniform(0.5, 3))
            task.cancelled_at = created_at + timedelta(minutes=rng.uniform(3, 15))
            task.cancel_reason = rng.choice(CANCEL_REASONS)
        elif roll < 0.08:
            task.status = TaskStatus.EXPIRED
            task.expired_at = created_at + timedelta(minutes=org.task_expiry_minutes + 1)
        else:
            task.status = TaskStatus.COMPLETED
            task.accepted_at = created_at + timedelta(minutes=rng.uniform(0.3, 3))
            task.started_at = task.accepted_at + timedelta(minutes=rng.uniform(0.5, 4))
            cooking = rng.uniform(10, 28) if peak else rng.uniform(6, 16)
            task.ready_at = task.started_at + timedelta(minutes=cooking)
            task.completed_at = task.ready_at + timedelta(minutes=rng.uniform(1, 8))
            for item in items:
                item.done, item.done_at = True, task.ready_at
        out.append((task, items))
    return out


_SEQUENCE_RAISE_SQL = """
INSERT INTO tasks_dailysequence (business_date, last_value) VALUES (%s, %s)
ON CONFLICT (business_date) DO UPDATE
SET last_value = GREATEST(tasks_dailysequence.last_value, EXCLUDED.last_value)
"""


def seed_demo_history(org, *, days: int = 30, progress: Callable[[int], None] | None = None) -> int:
    """Completed, cancelled and expired tasks for the ``days`` business days before today,
    peaking at lunch and dinner in the organization's timezone. Returns tasks created."""
    today = business_date(org)
    first = today - timedelta(days=days)
    agents = list(
        Agent.objects.filter(stock__isnull=True, is_available=True)
        .select_related("category")
        .order_by("id")
    )
    if (
        days <= 0
        or not agents
        or Task.objects.filter(business_date__gte=first, business_date__lt=today).exists()
    ):
        if progress and days > 0:
            progress(days)
        return 0
    rng = random.Random(f"{connection.schema_name}-{first.isoformat()}")
    # Cheap dishes and rice sell more often than a whole duck.
    weights = [3.0 if agent.unit_price < 30 else 1.5 for agent in agents]
    user_ids = list(
        Membership.objects.filter(organization_id=org.pk).values_list("user_id", flat=True)
    )
    windows = _peak_windows(org)
    created = 0
    for offset in range(days):
        day = first + timedelta(days=offset)
        with transaction.atomic():
            pairs = _day_tasks(
                org=org,
                day=day,
                rng=rng,
                agents=agents,
                weights=weights,
                user_ids=user_ids,
                windows=windows,
            )
            tasks = Task.objects.bulk_create([task for task, _items in pairs])
            items = []
            for task, task_items in zip(tasks, (i for _t, i in pairs), strict=True):
                for item in task_items:
                    item.task = task
                    items.append(item)
            TaskItem.objects.bulk_create(items, batch_size=2000)
            with connection.cursor() as cursor:
                cursor.execute(_SEQUENCE_RAISE_SQL, [day, len(tasks)])
            created += len(tasks)
        if progress:
            progress(1)
    # ``updated_at`` is auto_now: give history its last change instead of the seeding time.
    Task.objects.filter(business_date__gte=first, business_date__lt=today).update(
        updated_at=Coalesce(F("completed_at"), F("cancelled_at"), F("expired_at"), F("created_at"))
    )
    return created
