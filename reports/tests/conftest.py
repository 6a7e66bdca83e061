from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from accounts.choices import Role
from accounts.models import User
from organizations.models import Organization
from tasks.choices import TaskStatus
from testing.factories import TaskSpec, at, catalog_named, tasks_bulk
from testing.orgs import Org, make_org

# The known history (Asia/Shanghai, business day from 05:00): business date 2026-01-14.
DAY = "2026-01-14"


@pytest.fixture(scope="session")
def _nyc(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        existing = Organization.objects.filter(slug="nyc").first()
        if existing is None:
            return make_org("nyc", timezone="America/New_York")
        org = Org(organization=existing, host="nyc.localhost")
        for role in (Role.OWNER, Role.MANAGER, Role.STAFF):
            org.users[role] = User.objects.get(email=f"{role}@nyc.test")
        return org


@pytest.fixture
def nyc(_nyc, db, request) -> Org:
    """An organization in America/New_York (DST), session-shared, writes roll back. Its
    schema is the active one for the test body, unless the test uses ``acme`` too: then acme's
    is, and nyc is read inside ``with nyc.active():``."""
    if "acme" not in request.fixturenames:
        connection.set_tenant(_nyc.organization)
    yield _nyc
    connection.set_schema_to_public()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def known_history(org: Org) -> dict:
    """Write the documented history into ``org``'s schema; returns the catalog."""
    with org.active():
        return _known_history(org)


def _known_history(org: Org) -> dict:
    catalog = catalog_named()
    kp, rice, cola = (catalog.agents[n] for n in ("宫保鸡丁", "米饭", "Cola"))
    o = org.organization
    C, X, E, R = TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.EXPIRED, TaskStatus.READY
    minutes = lambda m: timedelta(minutes=m)  # noqa: E731
    tasks_bulk(
        o,
        [
            TaskSpec(at(o, "2026-01-14 11:10"), C, [(kp, 2), (cola, 1)], Decimal("1.00"),
                     minutes(10), customer_name="张三"),
            TaskSpec(at(o, "2026-01-14 12:30"), C, [(kp, 1), (rice, 3)], ready_after=minutes(20)),
            TaskSpec(at(o, "2026-01-14 18:05"), C, [(cola, 4)], Decimal("2.50"), minutes(5)),
            TaskSpec(at(o, "2026-01-14 13:00"), X, [(kp, 1)]),
            TaskSpec(at(o, "2026-01-14 19:00"), E, [(cola, 2)]),
            # 01:30 and 04:59 the next morning still belong to business day 2026-01-14.
            TaskSpec(at(o, "2026-01-15 01:30"), C, [(rice, 1)], ready_after=minutes(30)),
            TaskSpec(at(o, "2026-01-15 04:59"), R, [(cola, 1)], ready_after=minutes(15)),
            # 04:59 on the 14th is the 13th's; 05:00 on the 15th is the 15th's.
            TaskSpec(at(o, "2026-01-14 04:59"), C, [(cola, 1)]),
            TaskSpec(at(o, "2026-01-15 05:00"), C, [(kp, 5)]),
            # Same weekday last week.
            TaskSpec(at(o, "2026-01-07 12:00"), C, [(kp, 1)]),
        ],
    )  # fmt: skip
    return catalog
