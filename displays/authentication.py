"""``Authorization: Screen <token>``: a display screen authenticates for a WebSocket ticket.

A screen is not a user and has no member role. It is represented by a ``ScreenPrincipal``
whose membership-like role is ``core.policy.SCREEN``: the one role check
(core.permissions.RolePermission) lets it take only the actions the policy table opens to screens
(``screen=True``), whatever a view's authentication accepts. Only views that list this class
accept screen tokens.
"""

from dataclasses import dataclass

from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from core.policy import SCREEN

from .constants import SCREEN_AUTH_KEYWORD
from .models import Screen
from .selectors import screen_get_by_token_hash
from .services import screen_token_hash


@dataclass(frozen=True)
class ScreenMembership:
    role: str
    organization_id: int


class ScreenPrincipal:
    """request.user for a screen-authenticated request."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False

    def __init__(self, screen: Screen):
        self.screen = screen
        # The throttle identity, never a user id. It carries the schema: screen 3 of one
        # organization is not screen 3 of another (they would share a rate-limit counter).
        self.pk = self.id = f"screen:{connection.schema_name}:{screen.pk}"
        self.membership = ScreenMembership(role=SCREEN, organization_id=connection.tenant.pk)

    def __str__(self) -> str:
        return f"screen {self.screen.name}"


class ScreenTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace") != SCREEN_AUTH_KEYWORD:
            return None  # not a screen: let the JWT authentication try
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed screen token header."))
        token = header[1].decode(errors="replace")
        screen = screen_get_by_token_hash(token_hash=screen_token_hash(token))
        if screen is None or not screen.is_active:
            raise exceptions.AuthenticationFailed(
                _("Unknown or revoked screen token."), code="screen_token_invalid"
            )
        return ScreenPrincipal(screen), screen

    def authenticate_header(self, request):
        return f'{SCREEN_AUTH_KEYWORD} realm="api"'
