"""Closing open WebSockets from a service: a session that ended, a removed member, a screen
whose token was rotated or revoked.

Every socket of the display consumer (``displays.consumers``) joins, besides its
organization's event group, one group for who is on it: ``sessions.<schema>.user.<id>`` or
``sessions.<schema>.screen.<id>`` (the schema is in the name: user 3 of one organization's
socket list is not another's, and screen ids repeat across organizations). A service asks for
the close with ``sockets_close_on_commit``: the message goes out through the channel layer
(every process, every host) once the transaction that made the change has committed, so a
rolled-back change closes nothing.

The periodic re-check of every socket (``WS_RECHECK_SECONDS``) stays the safety net if a close
message is lost (Redis blip).
"""

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

CLOSE_MESSAGE_TYPE = "session.close"


def user_group_name(schema_name: str, user_id) -> str:
    return f"sessions.{schema_name}.user.{user_id}"


def screen_group_name(schema_name: str, screen_id) -> str:
    return f"sessions.{schema_name}.screen.{screen_id}"


def sockets_close(*, groups: Iterable[str], code: str, message) -> None:
    """Tell every socket in ``groups`` to send ``{"type": "error", code, message}`` and close."""
    layer = get_channel_layer()
    if layer is None:
        return
    body = {"type": CLOSE_MESSAGE_TYPE, "code": code, "message": str(message)}
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, body)
        except Exception:
            # The change is committed; the socket's own re-check closes it a little later.
            logger.warning("socket close message not sent", exc_info=True, extra={"group": group})


def sockets_close_on_commit(*, groups: Iterable[str], code: str, message) -> None:
    groups = list(groups)
    if groups:
        transaction.on_commit(lambda: sockets_close(groups=groups, code=code, message=message))
