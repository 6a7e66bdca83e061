"""Open WebSockets close when who is on them is no longer allowed: the user's session ended
(session version bumped), their membership was removed, the screen's token was rotated or the
screen revoked. Real channels-redis layer, committed data, WebsocketCommunicator."""

import uuid

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from django_tenants.utils import tenant_context

from accounts.choices import Role
from accounts.models import Membership, User
from accounts.services import membership_delete, user_sessions_revoke
from displays.services import screen_revoke, screen_rotate_token

from .conftest import run
from .test_consumer import _open


@pytest.fixture
def person(rt_a, rt_b):
    """A committed user who is staff in both realtime organizations (deleted afterwards)."""
    user = User.objects.create_user(email=f"ws-{uuid.uuid4().hex[:8]}@close.test", password="x")
    for live in (rt_a, rt_b):
        Membership.objects.create(user=user, organization=live.org.organization, role=Role.STAFF)
    yield user
    User.objects.filter(pk=user.pk).delete()


async def _closed_with(comm, code: str) -> None:
    message = await comm.receive_json_from(timeout=5)
    assert message == {"type": "error", "code": code, "message": message["message"]}
    assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
    await comm.disconnect()


async def _still_open(comm) -> None:
    await comm.send_json_to({"type": "ping"})
    assert (await comm.receive_json_from(timeout=5)) == {"type": "pong"}


def test_a_session_bump_closes_the_users_sockets_in_every_organization(rt_a, rt_b, person):
    async def body():
        on_a, _ = await _open(rt_a, user=person)
        on_b, _ = await _open(rt_b, user=person)
        await sync_to_async(user_sessions_revoke)(user=person)
        await _closed_with(on_a, "SESSION_REVOKED")
        await _closed_with(on_b, "SESSION_REVOKED")

    run(body)


def test_removing_a_membership_closes_that_organizations_sockets_only(rt_a, rt_b, person):
    def remove():
        membership = Membership.objects.select_related("organization").get(
            user=person, organization=rt_a.org.organization
        )
        membership_delete(membership=membership)

    async def body():
        on_a, _ = await _open(rt_a, user=person)
        on_b, _ = await _open(rt_b, user=person)
        await sync_to_async(remove)()
        await _closed_with(on_a, "MEMBERSHIP_REVOKED")
        await _still_open(on_b)
        await on_b.disconnect()

    run(body)


def test_rotating_a_screen_token_closes_that_screens_sockets_only(rt_a):
    rotated, _ = rt_a.screen(name="Rotated")
    other, _ = rt_a.screen(name="Other")

    def rotate():
        with tenant_context(rt_a.org.organization):
            screen_rotate_token(screen_id=rotated.pk)

    async def body():
        first, _ = await _open(rt_a, screen=rotated)
        second, _ = await _open(rt_a, screen=rotated)
        bystander, _ = await _open(rt_a, screen=other)
        await sync_to_async(rotate)()
        await _closed_with(first, "SCREEN_TOKEN_ROTATED")
        await _closed_with(second, "SCREEN_TOKEN_ROTATED")
        await _still_open(bystander)
        await bystander.disconnect()

    run(body)


def test_revoking_a_screen_closes_its_sockets_at_once(rt_a):
    screen, _ = rt_a.screen(name="Revoked")

    def revoke():
        with tenant_context(rt_a.org.organization):
            screen_revoke(screen_id=screen.pk)

    async def body():
        comm, _ = await _open(rt_a, screen=screen)
        await sync_to_async(revoke)()
        await _closed_with(comm, "SCREEN_REVOKED")

    run(body)


@override_settings(WS_RECHECK_SECONDS=1)
def test_the_recheck_closes_a_socket_whose_close_message_was_lost(rt_a, person):
    """No message at all (a bump written straight to the database): the periodic re-check
    compares the session version the socket opened with."""

    async def body():
        comm, _ = await _open(rt_a, user=person)
        await sync_to_async(User.objects.filter(pk=person.pk).update, thread_sensitive=True)(
            session_version=person.session_version + 1
        )
        message = await comm.receive_json_from(timeout=5)
        assert message["code"] == "SESSION_REVOKED"

    run(body)


def _ticket_over_http(live, *, user=None, screen_token=None) -> str:
    from rest_framework.test import APIClient

    from accounts.tokens import tokens_for_membership

    client = APIClient(HTTP_HOST=live.host)
    if user is not None:
        token = tokens_for_membership(user=user, organization=live.org.organization)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.access_token}")
    else:
        client.credentials(HTTP_AUTHORIZATION=f"Screen {screen_token}")
    response = client.post("/api/v1/realtime/tickets/")
    assert response.status_code == 201, response.content
    return response.json()["ticket"]


def test_a_ticket_taken_before_the_session_ended_opens_nothing(rt_a, person):
    """The 30 s between asking for a ticket and opening the socket is no back door."""
    ticket = _ticket_over_http(rt_a, user=person)
    user_sessions_revoke(user=person)

    async def body():
        comm, messages = await _open(rt_a, ticket=ticket)
        assert messages[0]["type"] == "error"
        assert messages[0]["code"] == "SESSION_REVOKED"
        await comm.disconnect()

    run(body)


def test_a_ticket_taken_with_a_rotated_screen_token_opens_nothing(rt_a):
    screen, token = rt_a.screen(name="Rotated before connect")
    ticket = _ticket_over_http(rt_a, screen_token=token)
    with tenant_context(rt_a.org.organization):
        screen_rotate_token(screen_id=screen.pk)

    async def body():
        comm, messages = await _open(rt_a, ticket=ticket)
        assert messages[0]["code"] == "SCREEN_TOKEN_ROTATED"
        await comm.disconnect()

    run(body)


def test_a_fresh_ticket_after_the_bump_still_opens(rt_a, person):
    user_sessions_revoke(user=person)
    person.refresh_from_db()
    ticket = _ticket_over_http(rt_a, user=person)

    async def body():
        comm, messages = await _open(rt_a, ticket=ticket)
        assert messages[0]["type"] == "hello"
        await comm.disconnect()

    run(body)
