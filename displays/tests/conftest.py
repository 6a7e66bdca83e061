"""Fixtures of the realtime tests.

WebSocket consumers read the database from another thread, so their tests need committed data:
two organizations (``rt_a``, ``rt_b``) are created once per session with a small catalog of
two stations, and dropped at the end. Each test starts from the current last ``seq``.
"""

import contextlib
import uuid
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.db import connection
from django_tenants.utils import tenant_context

from agents.models import Agent, AgentCategory
from displays.tickets import ticket_issue
from organizations.models import Organization
from testing.factories import agent_make, category_make, screen_make, task_make
from testing.orgs import Org, make_org


@dataclass
class LiveOrg:
    """A committed organization with two stations (hot kitchen, bar)."""

    org: Org
    hot: AgentCategory
    bar: AgentCategory
    soup: Agent
    beer: Agent

    @property
    def host(self) -> str:
        return self.org.host

    @property
    def schema(self) -> str:
        return self.org.schema

    def context(self):
        return tenant_context(self.org.organization)

    def task(self, *agents: Agent, user=None):
        """A task created by the real service (its event is published after commit)."""
        with self.context():
            return task_make(user=user or self.org.users["staff"], agents=list(agents))

    def screen(self, station=(), name="Pass"):
        with self.context():
            return screen_make(name=name, station=station)

    def ticket(self, *, screen=None, user=None) -> str:
        with self.context():
            if screen is not None:
                return ticket_issue(kind="screen", principal_id=screen.pk)
            return ticket_issue(kind="user", principal_id=user.pk)

    def last_seq(self) -> int:
        from displays.selectors import event_last_seq

        with self.context():
            return event_last_seq()


def _live_org(slug: str) -> LiveOrg:
    org = make_org(slug)
    # Screens accumulate over the session: lift the plan limit (tested on the shared orgs).
    Organization.objects.filter(pk=org.organization.pk).update(max_screens=100_000)
    org.organization.max_screens = 100_000
    with org.active():
        hot = category_make(name="Hot", sort_order=1)
        bar = category_make(name="Bar", sort_order=2)
        soup = agent_make(name="Soup", category=hot, price="12.00")
        beer = agent_make(name="Beer", category=bar, price="8.00")
    connection.set_schema_to_public()
    return LiveOrg(org=org, hot=hot, bar=bar, soup=soup, beer=beer)


@pytest.fixture(scope="session")
def _live_orgs(django_db_setup, django_db_blocker):
    suffix = uuid.uuid4().hex[:4]
    with django_db_blocker.unblock():
        orgs = (_live_org(f"rta-{suffix}"), _live_org(f"rtb-{suffix}"))
    yield orgs
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        for live in orgs:
            with contextlib.suppress(Exception):
                Organization.objects.get(pk=live.org.organization.pk).delete(force_drop=True)


@pytest.fixture
def rt_a(_live_orgs, live_db) -> LiveOrg:
    yield _live_orgs[0]
    connection.set_schema_to_public()


@pytest.fixture
def rt_b(_live_orgs, live_db) -> LiveOrg:
    yield _live_orgs[1]
    connection.set_schema_to_public()


@pytest.fixture
def restore_org(acme):
    """The shared organization object is reused by every test: put its fields back after a test
    that changed them (the database row itself rolls back with the test)."""
    organization = acme.organization
    fields = organization._meta.concrete_fields
    saved = {f.attname: getattr(organization, f.attname) for f in fields}
    yield organization
    for name, value in saved.items():
        setattr(organization, name, value)


def communicator(host: str, query: str = "", origin: str | None = "same") -> WebsocketCommunicator:
    from config.asgi import application

    headers = [(b"host", host.encode())]
    if origin == "same":
        origin = f"http://{host}"
    if origin:
        headers.append((b"origin", origin.encode()))
    return WebsocketCommunicator(application, f"/ws/v1/tasks/?{query}", headers=headers)


def run(coro_fn, *args, **kwargs):
    """Run an async test body from a sync test (no pytest-asyncio needed)."""
    return async_to_sync(coro_fn)(*args, **kwargs)


async def receive_until(comm, predicate, timeout: float = 5.0) -> list[dict]:
    """Every message up to and including the first that satisfies ``predicate``."""
    messages = []
    while True:
        message = await comm.receive_json_from(timeout=timeout)
        messages.append(message)
        if predicate(message):
            return messages


async def receive_all(comm, timeout: float = 0.5) -> list[dict]:
    """Every message until the socket stays quiet for ``timeout`` seconds.

    (``receive_from`` with a timeout would cancel the application when it expires.)"""
    messages = []
    while not await comm.receive_nothing(timeout=timeout):
        messages.append(await comm.receive_json_from(timeout=5))
    return messages
