from django.conf import settings
from django.db import connection
from django.shortcuts import render
from django.utils import translation
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.generic import View
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import OrganizationJWTAuthentication
from accounts.tokens import SESSION_VERSION_CLAIM
from agents.models import AgentCategory
from core.api import TenantViewSet

from .authentication import ScreenPrincipal, ScreenTokenAuthentication
from .board import board_config, board_language
from .constants import PrincipalKind
from .models import ScreenMode
from .selectors import access_screen, screen_list
from .serializers import (
    ScreenCreateSerializer,
    ScreenSerializer,
    ScreenUpdateSerializer,
    ScreenWithTokenSerializer,
    TicketSerializer,
)
from .services import screen_create, screen_revoke, screen_rotate_token, screen_update
from .tickets import ticket_issue

WS_PATH = "/ws/v1/tasks/"


class ScreenViewSet(mixins.ListModelMixin, TenantViewSet):
    """Display screens: managers create them, rename them, rotate their token, revoke them."""

    serializer_class = ScreenSerializer
    filterset_fields = ["is_active"]
    ordering_fields = ["name", "created_at", "last_seen_at"]

    def get_queryset(self):
        return screen_list()

    @extend_schema(responses={200: ScreenSerializer})
    def retrieve(self, request, pk=None):
        return Response(ScreenSerializer(access_screen(screen_id=pk)).data)

    @extend_schema(request=ScreenCreateSerializer, responses={201: ScreenWithTokenSerializer})
    def create(self, request):
        data = ScreenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        screen, token = screen_create(**data.validated_data, user=request.user)
        screen.token = token
        return Response(ScreenWithTokenSerializer(screen).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ScreenUpdateSerializer, responses={200: ScreenSerializer})
    def partial_update(self, request, pk=None):
        data = ScreenUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        screen = screen_update(screen_id=access_screen(screen_id=pk).pk, **data.validated_data)
        return Response(ScreenSerializer(screen).data)

    @extend_schema(request=ScreenUpdateSerializer, responses={200: ScreenSerializer})
    def update(self, request, pk=None):
        return self.partial_update(request, pk=pk)

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request, pk=None):
        screen_revoke(screen_id=access_screen(screen_id=pk).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ScreenWithTokenSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-token")
    def rotate_token(self, request, pk=None):
        screen, token = screen_rotate_token(screen_id=access_screen(screen_id=pk).pk)
        screen.token = token
        return Response(ScreenWithTokenSerializer(screen).data)

    @extend_schema(request=None, responses={200: ScreenSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        screen = screen_revoke(screen_id=access_screen(screen_id=pk).pk)
        return Response(ScreenSerializer(screen).data)


class TicketView(APIView):
    """A one-time WebSocket ticket (30 s), for a screen token or a user's JWT (staff+).

    The answer also carries what a board needs to render: the card age thresholds.
    """

    authentication_classes = [ScreenTokenAuthentication, OrganizationJWTAuthentication]

    @extend_schema(request=None, responses={201: TicketSerializer})
    def post(self, request):
        user = request.user
        if isinstance(user, ScreenPrincipal):
            screen = user.screen
            ticket = ticket_issue(
                kind=PrincipalKind.SCREEN, principal_id=screen.pk, credential=screen.token_hash
            )
            principal = {
                "kind": PrincipalKind.SCREEN,
                "id": screen.pk,
                "name": screen.name,
                "station": list(screen.station),
                # The board labels its station before any task has named the categories.
                "station_names": dict(
                    AgentCategory.objects.filter(pk__in=screen.station).values_list("pk", "name")
                ),
                "mode": screen.mode,
            }
        else:
            ticket = ticket_issue(
                kind=PrincipalKind.USER,
                principal_id=user.pk,
                credential=str(request.auth.get(SESSION_VERSION_CLAIM, "")),
            )
            principal = {
                "kind": PrincipalKind.USER,
                "id": user.pk,
                "name": user.email,
                "station": [],
                "mode": ScreenMode.LINE,
                "role": user.membership.role,
            }
        org = connection.tenant
        body = {
            "ticket": ticket,
            "expires_in": settings.WS_TICKET_TTL_SECONDS,
            "ws_path": WS_PATH,
            "principal": principal,
            "settings": {
                "card_amber_minutes": org.card_amber_minutes,
                "card_red_minutes": org.card_red_minutes,
                "timezone": org.timezone,
                "heartbeat_seconds": settings.WS_HEARTBEAT_SECONDS,
                "recall_minutes": org.recall_minutes,
                "language": board_language(organization=org, requested=None),
            },
        }
        return Response(TicketSerializer(body).data, status=status.HTTP_201_CREATED)


@method_decorator(never_cache, name="dispatch")
class BoardView(View):
    """The display-screen page. No auth here: the page asks for the screen token itself.

    Rendered in the organization's language (``?lang=`` overrides it for one device), with the
    board's settings and every string its script shows (``displays.board``)."""

    def get(self, request):
        organization = connection.tenant
        language = board_language(organization=organization, requested=request.GET.get("lang"))
        with translation.override(language):
            response = render(
                request,
                "display/board.html",
                {
                    "organization": organization,
                    "ws_path": WS_PATH,
                    "board_language": language,
                    "board_config": board_config(organization=organization, language=language),
                },
            )
        response.headers["Content-Language"] = language
        return response
