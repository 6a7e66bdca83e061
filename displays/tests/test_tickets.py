import time

import pytest
from django.db import connection

from displays.tickets import ticket_consume

SCREENS = "/api/v1/screens/"
URL = "/api/v1/realtime/tickets/"


def _screen(org, station=()):
    response = org.client("manager").post(
        SCREENS, {"name": "Pass", "station": list(station)}, format="json"
    )
    assert response.status_code == 201
    return response.json()


def _screen_client(org, token):
    client = org.client()
    client.credentials(HTTP_AUTHORIZATION=f"Screen {token}")
    return client


def _consume(org, ticket):
    with org.active():
        return ticket_consume(ticket=ticket)


class TestTicketEndpoint:
    def test_anonymous_is_401(self, acme):
        response = acme.client().post(URL)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"

    def test_bad_screen_token_is_401(self, acme):
        response = _screen_client(acme, "not-a-token").post(URL)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"

    def test_malformed_screen_header_is_401(self, acme):
        client = acme.client()
        client.credentials(HTTP_AUTHORIZATION="Screen a b")
        assert client.post(URL).status_code == 401

    def test_screen_token_gets_a_ticket_with_board_settings(self, acme, restore_org):
        acme.organization.card_amber_minutes = 7
        acme.organization.save(update_fields=["card_amber_minutes"])
        screen = _screen(acme)
        response = _screen_client(acme, screen["token"]).post(URL)
        assert response.status_code == 201
        body = response.json()
        assert body["expires_in"] == 30
        assert body["ws_path"] == "/ws/v1/tasks/"
        assert body["principal"] == {
            "kind": "screen",
            "id": screen["id"],
            "name": "Pass",
            "station": [],
            "station_names": {},
            "mode": "line",
        }
        assert body["settings"]["card_amber_minutes"] == 7
        assert body["settings"]["recall_minutes"] == acme.organization.recall_minutes
        assert body["settings"]["card_red_minutes"] == acme.organization.card_red_minutes
        principal = _consume(acme, body["ticket"])
        assert (principal.kind, principal.id, principal.schema) == (
            "screen",
            screen["id"],
            acme.schema,
        )

    @pytest.mark.parametrize("role", ["staff", "manager", "owner"])
    def test_user_jwt_gets_a_ticket(self, acme, role):
        response = acme.client(role).post(URL)
        assert response.status_code == 201
        assert response.json()["principal"]["role"] == role
        principal = _consume(acme, response.json()["ticket"])
        assert (principal.kind, principal.id) == ("user", acme.users[role].pk)

    def test_revoked_screen_token_is_401(self, acme):
        screen = _screen(acme)
        acme.client("manager").post(f"{SCREENS}{screen['id']}/revoke/")
        assert _screen_client(acme, screen["token"]).post(URL).status_code == 401

    def test_rotated_token_is_401(self, acme):
        screen = _screen(acme)
        acme.client("manager").post(f"{SCREENS}{screen['id']}/rotate-token/")
        assert _screen_client(acme, screen["token"]).post(URL).status_code == 401

    def test_screen_token_of_other_organization_is_401(self, acme, globex):
        screen = _screen(globex)
        assert _screen_client(acme, screen["token"]).post(URL).status_code == 401

    def test_suspended_organization_is_403(self, acme, restore_org):
        screen = _screen(acme)
        acme.organization.is_active = False
        acme.organization.save(update_fields=["is_active"])
        response = _screen_client(acme, screen["token"]).post(URL)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "ORGANIZATION_SUSPENDED"

    def test_get_is_not_allowed(self, acme):
        assert acme.client("staff").get(URL).status_code == 405


class TestTicketStore:
    def test_single_use(self, acme):
        ticket = acme.client("staff").post(URL).json()["ticket"]
        assert _consume(acme, ticket) is not None
        assert _consume(acme, ticket) is None

    def test_bound_to_the_organization(self, acme, globex):
        ticket = acme.client("staff").post(URL).json()["ticket"]
        assert _consume(globex, ticket) is None
        # Still unused on its own organization: the foreign attempt did not burn it.
        assert _consume(acme, ticket) is not None

    def test_expires(self, acme, settings):
        settings.WS_TICKET_TTL_SECONDS = 1
        ticket = acme.client("staff").post(URL).json()["ticket"]
        time.sleep(1.2)
        assert _consume(acme, ticket) is None

    def test_key_carries_the_schema(self, acme):
        from django_redis import get_redis_connection

        ticket = acme.client("staff").post(URL).json()["ticket"]
        keys = [k.decode() for k in get_redis_connection("default").keys(f"*{ticket}*")]
        assert len(keys) == 1 and keys[0].startswith(f"{acme.schema}:")
        connection.set_schema_to_public()

    @pytest.mark.parametrize("ticket", ["", "x" * 200])
    def test_garbage(self, acme, ticket):
        assert _consume(acme, ticket) is None
