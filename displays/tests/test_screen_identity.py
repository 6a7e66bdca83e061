"""Screen identities carry the schema: screen N of one organization is not screen N of another
(they shared one rate-limit counter when the identity was ``screen-<id>``)."""

from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from displays.models import Screen
from displays.services import screen_token_hash

TICKETS = "/api/v1/realtime/tickets/"


def _screen_with_id(org, screen_id: int) -> str:
    token = f"token-{org.schema}-{screen_id}"
    with org.active():
        Screen.objects.create(
            pk=screen_id, name="Pass", station=[], token_hash=screen_token_hash(token)
        )
    return token


def _ticket(org, token):
    client = APIClient(HTTP_HOST=org.host)
    client.credentials(HTTP_AUTHORIZATION=f"Screen {token}")
    return client.post(TICKETS)


def test_a_screen_exhausting_its_limit_does_not_limit_the_same_id_elsewhere(acme, globex):
    acme_token = _screen_with_id(acme, 424242)
    globex_token = _screen_with_id(globex, 424242)
    rates = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "user": "3/min",
        },
    }
    with override_settings(REST_FRAMEWORK=rates):
        assert [_ticket(acme, acme_token).status_code for _ in range(4)] == [201, 201, 201, 429]
        assert _ticket(globex, globex_token).status_code == 201
