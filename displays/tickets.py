"""One-time WebSocket tickets.

A screen (with its token) or a user (with a JWT) asks for a ticket over HTTPS, then opens the
WebSocket with ``?ticket=``: no long-lived secret ever travels in a URL (URLs end up in logs).
A ticket lives ``WS_TICKET_TTL_SECONDS`` in Redis under a key carrying the schema name (through
the cache key function), and is consumed with ``GETDEL``: single use even under races. A ticket
issued on one organization cannot be found from another one's schema.
"""

import json
import secrets
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from .constants import TICKET_BYTES, TICKET_KEY, PrincipalKind


@dataclass(frozen=True)
class TicketPrincipal:
    """Who a ticket was issued to."""

    kind: str  # PrincipalKind
    id: int
    schema: str
    # The credential the ticket was asked with (a user's session version, a screen's token
    # hash): a ticket taken just before a session ended or a token was rotated opens nothing.
    credential: str = ""


def _redis():
    return cache.client.get_client(write=True)


def _key(ticket: str) -> str:
    # make_key runs django_tenants.cache.make_key: the schema name is part of the key.
    return cache.make_key(TICKET_KEY.format(ticket=ticket))


def ticket_issue(*, kind: str, principal_id: int, credential: str = "") -> str:
    ticket = secrets.token_urlsafe(TICKET_BYTES)
    principal = TicketPrincipal(
        kind=kind, id=principal_id, schema=connection.schema_name, credential=credential
    )
    _redis().set(_key(ticket), json.dumps(asdict(principal)), ex=settings.WS_TICKET_TTL_SECONDS)
    return ticket


def ticket_consume(*, ticket: str) -> TicketPrincipal | None:
    """Atomically take a ticket of the current schema; None if unknown, used or expired."""
    if not ticket or len(ticket) > 128:
        return None
    raw = _redis().getdel(_key(ticket))
    if raw is None:
        return None
    data = json.loads(raw)
    if data.get("schema") != connection.schema_name or data.get("kind") not in (
        PrincipalKind.SCREEN,
        PrincipalKind.USER,
    ):
        return None
    return TicketPrincipal(
        kind=data["kind"],
        id=data["id"],
        schema=data["schema"],
        credential=str(data.get("credential", "")),
    )
