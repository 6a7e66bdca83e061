"""Auth and member endpoints. Views validate, call one service or selector, serialize."""

from django.db import connection
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from core.api import TenantViewSet
from core.throttling import AnonRateThrottle

from . import services
from .selectors import membership_get_active, membership_list
from .serializers import (
    LoginInputSerializer,
    MembershipCreateSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    MeSerializer,
    RefreshInputSerializer,
    TokenPairSerializer,
)
from .tokens import ORG_CLAIM


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "unknown")


class PublicAuthView(APIView):
    """Endpoints reached without a token; a token failure is still a 401 (not DRF's 403)."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [AnonRateThrottle]

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'


class LoginView(PublicAuthView):
    @extend_schema(request=LoginInputSerializer, responses={200: TokenPairSerializer})
    def post(self, request):
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.auth_login(
            organization=connection.tenant, ip=client_ip(request), **data.validated_data
        )
        return Response(
            {"access": issued.access, "refresh": issued.refresh, "role": issued.membership.role}
        )


class RefreshView(PublicAuthView):
    @extend_schema(request=RefreshInputSerializer, responses={200: TokenRefreshSerializer})
    def post(self, request):
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            token = RefreshToken(data.validated_data["refresh"])
        except TokenError as exc:
            raise InvalidToken({"detail": str(exc)}) from exc
        if token.get(ORG_CLAIM) != connection.schema_name:
            raise InvalidToken({"detail": _("This token was issued for another organization.")})
        if (
            membership_get_active(
                user_id=token.get("user_id"), organization_id=connection.tenant.pk
            )
            is None
        ):
            raise InvalidToken(
                {"detail": _("The user is inactive or no longer a member of this organization.")}
            )
        serializer = TokenRefreshSerializer(data=data.validated_data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            raise InvalidToken({"detail": str(exc)}) from exc
        return Response(serializer.validated_data)


class LogoutView(APIView):
    @extend_schema(request=RefreshInputSerializer, responses={204: None})
    def post(self, request):
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.auth_logout(refresh=data.validated_data["refresh"], access_token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class MemberViewSet(mixins.ListModelMixin, TenantViewSet):
    """Owner-only member management for the current organization."""

    serializer_class = MembershipSerializer
    filterset_fields = ["role"]
    ordering_fields = ["created_at", "role"]
    ordering = ["created_at"]

    def get_queryset(self):
        return membership_list(organization_id=connection.tenant.pk)

    def _access(self, pk):
        return services.access_membership(organization=connection.tenant, membership_id=pk)

    def retrieve(self, request, pk=None):
        return Response(MembershipSerializer(self._access(pk)).data)

    @extend_schema(request=MembershipCreateSerializer, responses={201: MembershipSerializer})
    def create(self, request):
        data = MembershipCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_create(
            organization=connection.tenant, **data.validated_data
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MembershipUpdateSerializer, responses={200: MembershipSerializer})
    def partial_update(self, request, pk=None):
        data = MembershipUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_update_role(
            membership=self._access(pk), role=data.validated_data["role"]
        )
        return Response(MembershipSerializer(membership).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.membership_delete(membership=self._access(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
