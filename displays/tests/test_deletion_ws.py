"""A scheduled deletion closes the organization's WebSockets: a connect is refused with
ORGANIZATION_DELETION_SCHEDULED, an open socket is closed at its re-check, and a cancel opens
them again (real database, real Redis channel layer)."""

from asgiref.sync import sync_to_async

from organizations.services import (
    DELETION_BY_OWNER,
    organization_deletion_cancel,
    organization_deletion_schedule,
)

from .conftest import communicator, run
from .test_consumer import _expect_refused, _open


def test_connect_refused_while_deletion_is_scheduled(rt_b):
    screen, _ = rt_b.screen()
    organization = rt_b.org.organization
    organization_deletion_schedule(organization=organization, by=DELETION_BY_OWNER)
    try:

        async def refused():
            ticket = await sync_to_async(rt_b.ticket)(screen=screen)
            comm = communicator(rt_b.host, f"ticket={ticket}")
            assert (await comm.connect())[0]
            await _expect_refused(comm, "ORGANIZATION_DELETION_SCHEDULED", 4403)

        run(refused)
    finally:
        organization_deletion_cancel(organization=organization, by=DELETION_BY_OWNER)

    async def accepted():
        comm, messages = await _open(rt_b, screen=screen)
        assert messages[0]["type"] == "hello"
        await comm.disconnect()

    run(accepted)


def test_open_socket_closed_at_the_recheck(rt_b, settings):
    settings.WS_RECHECK_SECONDS = 1
    screen, _ = rt_b.screen()
    organization = rt_b.org.organization

    async def body():
        comm, _ = await _open(rt_b, screen=screen)
        await sync_to_async(organization_deletion_schedule)(
            organization=organization, by=DELETION_BY_OWNER
        )
        await _expect_refused(comm, "ORGANIZATION_DELETION_SCHEDULED", 4403)

    try:
        run(body)
    finally:
        organization_deletion_cancel(organization=organization, by=DELETION_BY_OWNER)
