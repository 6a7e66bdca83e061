"""Writes for display screens."""

import hashlib
import secrets
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from agents.models import AgentCategory
from audit.choices import AuditAction
from audit.services import audit_changes, audit_record, audit_snapshot
from core.exceptions import ApplicationError, ConflictError, PlanLimitError
from core.sockets import screen_group_name, sockets_close_on_commit
from organizations.models import Organization

from .constants import SCREEN_TOKEN_BYTES
from .models import Screen, ScreenMode
from .selectors import access_screen


def screen_token_hash(token: str) -> str:
    # The token is 256 random bits: a plain SHA-256 is enough (no dictionary to defend against).
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(SCREEN_TOKEN_BYTES)
    return token, screen_token_hash(token)


def _validate_station(station: Iterable[int]) -> list[int]:
    ids = sorted({int(pk) for pk in station})
    known = set(AgentCategory.objects.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [pk for pk in ids if pk not in known]
    if missing:
        raise ApplicationError(
            _("Some fields are invalid."),
            code="VALIDATION_ERROR",
            details={"fields": {"station": [_("Unknown agent categories: %s.") % missing]}},
        )
    return ids


@transaction.atomic
def screen_create(
    *, name: str, station: Iterable[int] = (), mode: str = ScreenMode.LINE, user=None
) -> tuple[Screen, str]:
    """Create a screen; returns it with its plain token (the only time it exists in clear)."""
    station = _validate_station(station)
    # Lock the organization row: concurrent creates cannot both pass the plan limit.
    organization = Organization.objects.select_for_update().get(pk=connection.tenant.pk)
    if Screen.objects.filter(is_active=True).count() >= organization.max_screens:
        raise PlanLimitError(
            _("Your plan allows %(n)d active screens.") % {"n": organization.max_screens},
            details={"max_screens": organization.max_screens},
        )
    token, token_hash = _new_token()
    screen = Screen.objects.create(
        name=name, station=station, mode=mode, token_hash=token_hash, created_by=user
    )
    audit_record(
        action=AuditAction.SCREEN_CREATE,
        target=screen,
        changes=audit_changes(before={}, after={"name": name, "station": station, "mode": mode}),
    )
    return screen, token


@transaction.atomic
def screen_update(
    *,
    screen_id: int,
    name: str | None = None,
    station: Iterable[int] | None = None,
    mode: str | None = None,
) -> Screen:
    """Rename a screen, change its station or mode. A board picks a new station or mode up at
    its next connect (the ticket carries them)."""
    screen = access_screen(screen_id=screen_id, lock=True)
    before = audit_snapshot(screen, ("name", "station", "mode"))
    if name is not None:
        screen.name = name
    if station is not None:
        screen.station = _validate_station(station)
    if mode is not None:
        screen.mode = mode
    screen.save(update_fields=["name", "station", "mode", "updated_at"])
    audit_record(
        action=AuditAction.SCREEN_UPDATE,
        target=screen,
        changes=audit_changes(before=before, after=audit_snapshot(screen, before)),
    )
    return screen


@transaction.atomic
def screen_rotate_token(*, screen_id: int) -> tuple[Screen, str]:
    """A new token; the old one stops working at once, and the screen's open sockets close
    after commit (whoever held the old token must not keep watching: it reconnects with the
    new token, through a new ticket)."""
    screen = access_screen(screen_id=screen_id, lock=True)
    if not screen.is_active:
        raise ConflictError(_("This screen is revoked."), code="SCREEN_REVOKED")
    token, screen.token_hash = _new_token()
    screen.save(update_fields=["token_hash", "updated_at"])
    # What changed is a secret: the row says that it changed, never a hash of it.
    audit_record(action=AuditAction.SCREEN_ROTATE, target=screen)
    _screen_sockets_close(
        screen, "SCREEN_TOKEN_ROTATED", _("This screen's token was replaced. Sign in again.")
    )
    return screen, token


@transaction.atomic
def screen_revoke(*, screen_id: int) -> Screen:
    """Revoke a screen: its token stops working and its open sockets close after commit."""
    screen = access_screen(screen_id=screen_id, lock=True)
    if screen.is_active:
        screen.is_active = False
        screen.revoked_at = timezone.now()
        # A revoked token must never authenticate again, even if the screen were reactivated.
        _token, screen.token_hash = _new_token()
        screen.save(update_fields=["is_active", "revoked_at", "token_hash", "updated_at"])
        audit_record(
            action=AuditAction.SCREEN_REVOKE, target=screen, changes={"is_active": [True, False]}
        )
        _screen_sockets_close(screen, "SCREEN_REVOKED", _("This screen has been revoked."))
    return screen


def _screen_sockets_close(screen: Screen, code: str, message) -> None:
    sockets_close_on_commit(
        groups=[screen_group_name(connection.schema_name, screen.pk)], code=code, message=message
    )


def screen_touch(*, screen_id: int) -> None:
    """Record that the screen was seen (connect, re-check); a plain UPDATE, no lock."""
    Screen.objects.filter(pk=screen_id).update(last_seen_at=timezone.now())
