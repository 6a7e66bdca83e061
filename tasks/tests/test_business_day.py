"""Numbers follow the organization's business day, in its own timezone."""

from datetime import datetime
from zoneinfo import ZoneInfo

from tasks.models import DailySequence, Task
from testing.factories import catalog_make, task_make
from testing.orgs import make_org

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def _create(org, agent, at):
    return task_make(user=org.users["staff"], agents=[agent], now=at)


def test_a_task_at_01_30_belongs_to_the_previous_business_day(acme, catalog):
    late = _create(acme, catalog.tea, datetime(2025, 1, 28, 1, 30, tzinfo=SHANGHAI))
    assert str(late.business_date) == "2025-01-27"
    assert late.number == "20250127001"
    before_start = _create(acme, catalog.tea, datetime(2025, 1, 28, 4, 59, tzinfo=SHANGHAI))
    assert before_start.number == "20250127002"
    # 05:00 opens a new business day: the sequence restarts.
    morning = _create(acme, catalog.tea, datetime(2025, 1, 28, 5, 0, tzinfo=SHANGHAI))
    assert morning.number == "20250128001"
    evening = _create(acme, catalog.tea, datetime(2025, 1, 28, 23, 59, tzinfo=SHANGHAI))
    assert evening.number == "20250128002"
    assert {d.business_date.isoformat(): d.last_value for d in DailySequence.objects.all()} == {
        "2025-01-27": 2,
        "2025-01-28": 2,
    }


def test_another_timezone_uses_its_own_business_day(acme, db):
    nyc = make_org("nyc-diner", timezone="America/New_York")
    # 01:30 in New York is 14:30 in Shanghai: the previous day there, the same day here.
    at = datetime(2025, 1, 28, 1, 30, tzinfo=NEW_YORK)
    with nyc.active():
        catalog = catalog_make()
        task = _create(nyc, catalog.tea, at)
        assert task.number == "20250127001"
        assert task.created_at == at
    # On acme's schema, Shanghai sees the same instant as 28 January, afternoon.
    tea = catalog_make().tea
    assert _create(acme, tea, at).number == "20250128001"
    with nyc.active():
        assert Task.objects.count() == 1
