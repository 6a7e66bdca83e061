"""The synchronous work behind the WebSocket consumer. Every function here runs in a thread
(``database_sync_to_async``) inside the organization's schema (``tenant_context``)."""

import logging
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from accounts.selectors import membership_get_active
from core import policy
from core.exceptions import ApplicationError
from events.services import ScreenActor
from organizations.models import Organization
from tasks import services as task_services
from tasks.choices import TaskStatus
from tasks.models import Task
from tasks.serializers import TaskSerializer

from .constants import PrincipalKind
from .models import Screen, ScreenMode
from .selectors import (
    agent_list_stock_alerts,
    event_last_seq,
    task_list_active_for_station,
    task_list_recalled_candidates,
)
from .services import screen_touch
from .tickets import TicketPrincipal, ticket_consume

logger = logging.getLogger(__name__)

_DENIED = _("Your role in this organization does not allow this action.")


@dataclass
class Session:
    """Who is on the socket: a screen (acts as staff) or a user (their own role)."""

    kind: str
    principal_id: int
    name: str
    station: list[int] = field(default_factory=list)
    # ScreenMode: an expo screen's bump completes the task (``action_run``).
    mode: str = ScreenMode.LINE
    # What the credential was when the socket opened: a screen's token hash, a user's session
    # version. The re-check closes the socket once it changed (token rotated, session ended),
    # should the close message (core.sockets) have been lost.
    credential: str = ""


class SessionRefused(Exception):
    def __init__(self, code: str, message):
        self.code, self.message = code, str(message)
        super().__init__(self.message)


def session_open(*, ticket: str) -> Session:
    principal: TicketPrincipal | None = ticket_consume(ticket=ticket)
    if principal is None:
        raise SessionRefused(
            "INVALID_TICKET", _("Unknown, expired or already used ticket. Ask for a new one.")
        )
    if principal.kind == PrincipalKind.SCREEN:
        if not policy.permits(policy.WS, "connect", role=policy.SCREEN):
            raise SessionRefused("PERMISSION_DENIED", _DENIED)
        screen = Screen.objects.filter(pk=principal.id, is_active=True).first()
        if screen is None:
            raise SessionRefused("SCREEN_REVOKED", _("This screen has been revoked."))
        if principal.credential and principal.credential != screen.token_hash:
            raise SessionRefused(
                "SCREEN_TOKEN_ROTATED", _("This screen's token was replaced. Sign in again.")
            )
        screen_touch(screen_id=screen.pk)
        return Session(
            kind=principal.kind,
            principal_id=screen.pk,
            name=screen.name,
            station=screen.station,
            mode=screen.mode,
            credential=screen.token_hash,
        )
    membership = membership_get_active(user_id=principal.id, organization_id=connection.tenant.pk)
    if membership is None:
        raise SessionRefused(
            "MEMBERSHIP_REVOKED",
            _("The user is inactive or no longer a member of this organization."),
        )
    if not policy.permits(policy.WS, "connect", role=membership.role):
        raise SessionRefused("PERMISSION_DENIED", _DENIED)
    if principal.credential and principal.credential != str(membership.user.session_version):
        raise SessionRefused("SESSION_REVOKED", _("Your session has ended. Sign in again."))
    return Session(
        kind=principal.kind,
        principal_id=principal.id,
        name=membership.user.email,
        credential=str(membership.user.session_version),
    )


def session_check(*, session: Session) -> SessionRefused | None:
    """The periodic re-check: organization active, screen not revoked, membership still valid."""
    # A fresh read (not the per-process cache): suspended or scheduled for deletion since.
    organization = Organization.objects.filter(pk=connection.tenant.pk).first()
    refusal = (
        ("ORGANIZATION_SUSPENDED", _("This organization is suspended."))
        if organization is None
        else organization.access_refusal()
    )
    if refusal is not None:
        return SessionRefused(*refusal)
    if session.kind == PrincipalKind.SCREEN:
        token_hash = (
            Screen.objects.filter(pk=session.principal_id, is_active=True)
            .values_list("token_hash", flat=True)
            .first()
        )
        if token_hash is None:
            return SessionRefused("SCREEN_REVOKED", _("This screen has been revoked."))
        if token_hash != session.credential:
            return SessionRefused(
                "SCREEN_TOKEN_ROTATED", _("This screen's token was replaced. Sign in again.")
            )
        screen_touch(screen_id=session.principal_id)
        return None
    membership = membership_get_active(
        user_id=session.principal_id, organization_id=connection.tenant.pk
    )
    if membership is None:
        return SessionRefused(
            "MEMBERSHIP_REVOKED",
            _("The user is inactive or no longer a member of this organization."),
        )
    if str(membership.user.session_version) != session.credential:
        return SessionRefused("SESSION_REVOKED", _("Your session has ended. Sign in again."))
    return None


def snapshot_build(*, station: list[int]) -> dict:
    """The current board: the last seq first, then the active tasks (a task changed in between
    is in the snapshot already *and* replayed after; applying a task twice is idempotent).

    Also what a freshly loaded board could not rebuild from the events it will get: the agents
    sold out or low (``stock_alerts``, the strip) and the tasks completed within the recall
    window (``recent``, the recall tray), both for the station."""
    seq = event_last_seq()
    tasks = TaskSerializer(task_list_active_for_station(station=station), many=True).data
    recent = TaskSerializer(
        task_list_recalled_candidates(
            station=station, recall_minutes=connection.tenant.recall_minutes
        ),
        many=True,
    ).data
    return {
        "type": "snapshot",
        "seq": seq,
        "tasks": tasks,
        "recent": recent,
        "stock_alerts": agent_list_stock_alerts(station=station),
    }


def action_run(*, session: Session, action: str, payload: dict) -> dict:
    """``bump`` / ``item_done`` / ``recall``, allowed by the same table as REST
    (``core.policy``, keys ``("ws", action)``): a screen as a screen, a user with the role they
    have now (not when the ticket was issued). An action the table does not name is refused."""
    user, role = None, policy.SCREEN
    if session.kind == PrincipalKind.USER:
        membership = membership_get_active(
            user_id=session.principal_id, organization_id=connection.tenant.pk
        )
        user, role = (membership.user, membership.role) if membership else (None, None)
        if user is not None:
            user.membership = membership
    if not policy.permits(policy.WS, action, role=role):
        raise ApplicationError(_DENIED, code="PERMISSION_DENIED", status=403)
    # The event's actor: the screen itself when a screen acts (it is not a user).
    screen = (
        ScreenActor(id=session.principal_id, name=session.name)
        if session.kind == PrincipalKind.SCREEN
        else None
    )
    if action == "bump" and session.mode == ScreenMode.EXPO:
        task = _expo_bump(task_id=payload["task_id"], screen=screen)
    elif action == "bump":
        task = task_services.task_advance(task_id=payload["task_id"], user=user, screen=screen)
    elif action == "item_done":
        task = task_services.task_item_set_done(
            task_id=payload["task_id"],
            item_id=payload["item_id"],
            done=payload["done"],
            user=user,
            screen=screen,
        )
    elif action == "recall":
        task = task_services.task_recall(task_id=payload["task_id"], user=user, screen=screen)
    else:  # in the table but not built here: refuse rather than guess
        raise ApplicationError(_("Unknown message type."), code="UNKNOWN_MESSAGE", status=400)
    return {"id": task.pk, "status": task.status}


@transaction.atomic
def _expo_bump(*, task_id: int, screen: ScreenActor) -> Task:
    """The expo's bump: the task is handed over, so it goes to ``completed`` whatever step the
    lines left it at, through each status of the happy path (one transaction, one
    ``task.status_changed`` per step, so every board and the timestamps see the usual moves).
    The board asks for a second press when the task is not ready yet."""
    task = task_services.task_advance(task_id=task_id, screen=screen)
    while task.status != TaskStatus.COMPLETED:
        task = task_services.task_advance(task_id=task_id, screen=screen)
    return task
