"""Auth and member endpoints. Views validate, call one service or selector, serialize."""

import django_filters
from django.db import connection
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from core.api import TenantViewSet
from core.client_ip import client_ip
from core.exceptions import NotFoundError
from core.schema import ErrorSerializer
from core.throttling import AnonRateThrottle, RateLimitThrottle, parse_rate

from . import services
from .authentication import SESSION_REVOKED
from .choices import Role
from .models import Invitation, Membership
from .selectors import (
    email_mask,
    invitation_get_pending,
    invitation_list,
    invitation_status_q,
    membership_get_active,
    membership_list,
)
from .serializers import (
    INVITATION_STATUSES,
    InvitationAcceptSerializer,
    InvitationCreateSerializer,
    InvitationPreviewSerializer,
    InvitationSerializer,
    LoginInputSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    MeSerializer,
    PasswordChangeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetRequestSerializer,
    ProfileUpdateSerializer,
    RefreshInputSerializer,
    TokenPairSerializer,
)
from .tokens import (
    ORG_CLAIM,
    SessionTokenRefreshSerializer,
    revocation_store_check,
    token_session_version,
    user_session_version,
)


def errors(*codes: str) -> OpenApiResponse:
    """An error response in the envelope, naming the codes it can carry."""
    return OpenApiResponse(response=ErrorSerializer, description=f"Codes: {', '.join(codes)}.")


class PublicAuthView(APIView):
    """Endpoints reached without a token; a token failure is still a 401 (not DRF's 403)."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [AnonRateThrottle]

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'


class LoginView(PublicAuthView):
    @extend_schema(
        request=LoginInputSerializer,
        responses={
            200: TokenPairSerializer,
            400: errors("VALIDATION_ERROR"),
            401: errors("INVALID_CREDENTIALS"),
            429: errors("LOGIN_LOCKED", "RATE_LIMITED"),
            503: errors("AUTH_UNAVAILABLE"),
        },
    )
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
    @extend_schema(
        request=RefreshInputSerializer,
        responses={
            200: TokenRefreshSerializer,
            400: errors("VALIDATION_ERROR"),
            401: errors("AUTHENTICATION_FAILED"),
            429: errors("RATE_LIMITED"),
            503: errors("AUTH_UNAVAILABLE"),
        },
    )
    def post(self, request):
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        revocation_store_check()  # 503 AUTH_UNAVAILABLE: never fail open
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
        # Read fresh (not the per-process cache): a reset refuses every earlier refresh token,
        # and rotation (which copies ``sv``) cannot carry a session past it.
        if token_session_version(token) != user_session_version(user_id=token.get("user_id")):
            raise InvalidToken(SESSION_REVOKED)
        serializer = SessionTokenRefreshSerializer(data=data.validated_data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            raise InvalidToken({"detail": str(exc)}) from exc
        return Response(serializer.validated_data)


class LogoutView(APIView):
    @extend_schema(
        request=RefreshInputSerializer,
        responses={
            204: None,
            400: errors("VALIDATION_ERROR", "INVALID_TOKEN"),
            503: errors("AUTH_UNAVAILABLE"),
        },
    )
    def post(self, request):
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.auth_logout(refresh=data.validated_data["refresh"], access_token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(
        summary="Edit one's own profile (name, language)",
        request=ProfileUpdateSerializer,
        responses={200: MeSerializer, 400: errors("VALIDATION_ERROR")},
    )
    def patch(self, request):
        data = ProfileUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_profile_update(user=request.user, **data.validated_data)
        return Response(MeSerializer(request.user).data)


class MemberViewSet(mixins.ListModelMixin, TenantViewSet):
    """Owner-only member management for the current organization. People join by invitation
    only (``InvitationViewSet``): there is no create here."""

    serializer_class = MembershipSerializer
    filterset_fields = ["role"]
    ordering_fields = ["created_at", "role"]
    ordering = ["created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request tenant
            return Membership.objects.none()
        return membership_list(organization_id=connection.tenant.pk)

    def _access(self, pk):
        return services.access_membership(organization=connection.tenant, membership_id=pk)

    def retrieve(self, request, pk=None):
        return Response(MembershipSerializer(self._access(pk)).data)

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


# --- Sessions and passwords ------------------------------------------------------------------


class PasswordResetThrottle(RateLimitThrottle):
    """Reset requests per client IP (on top of the anonymous per-IP limit): each one may send
    an email, so far fewer than the API's general rate."""

    rate = "10/hour"

    def _scopes(self, request):
        limit, span = parse_rate(self.rate)
        return [(f"pwreset-ip:{client_ip(request)}", limit, span)]


class PasswordChangeView(APIView):
    @extend_schema(
        summary="Change one's own password",
        description="Every earlier access and refresh token of this person is refused "
        "afterwards (all organizations); the answer carries fresh tokens for this one.",
        request=PasswordChangeSerializer,
        responses={
            200: TokenPairSerializer,
            400: errors("VALIDATION_ERROR", "INVALID_CURRENT_PASSWORD"),
            429: errors("LOGIN_LOCKED", "RATE_LIMITED"),
            503: errors("AUTH_UNAVAILABLE"),
        },
    )
    def post(self, request):
        data = PasswordChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.password_change(
            user=request.user,
            organization=connection.tenant,
            ip=client_ip(request),
            **data.validated_data,
        )
        return Response(
            {"access": issued.access, "refresh": issued.refresh, "role": issued.membership.role}
        )


class PasswordResetView(PublicAuthView):
    throttle_classes = [AnonRateThrottle, PasswordResetThrottle]

    @extend_schema(
        summary="Ask for a password reset email",
        description="Always 202, whether or not the email belongs to a member here: if it "
        "does, a one-time link (valid one hour) is emailed.",
        request=PasswordResetRequestSerializer,
        responses={
            202: inline_serializer("PasswordResetAccepted", {"detail": serializers.CharField()}),
            400: errors("VALIDATION_ERROR"),
            429: errors("RATE_LIMITED"),
        },
    )
    def post(self, request):
        data = PasswordResetRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(
            organization=connection.tenant, email=data.validated_data["email"]
        )
        return Response(
            {"detail": _("If this email belongs to an account here, a reset link is on its way.")},
            status=status.HTTP_202_ACCEPTED,
        )


class PasswordResetConfirmView(PublicAuthView):
    @extend_schema(
        summary="Set a new password with the emailed link's uid and token",
        description="Every earlier access and refresh token of this person is refused.",
        request=PasswordResetConfirmSerializer,
        responses={
            204: None,
            400: errors("VALIDATION_ERROR", "INVALID_RESET_LINK"),
            429: errors("RATE_LIMITED"),
        },
    )
    def post(self, request):
        data = PasswordResetConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_confirm(**data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    @extend_schema(
        summary="Log out everywhere",
        description="Every access and refresh token of this person, on every organization and "
        "device, is refused from now on.",
        request=None,
        responses={204: None, 503: errors("AUTH_UNAVAILABLE")},
    )
    def post(self, request):
        services.auth_logout_everywhere(user=request.user, access_token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Invitations -----------------------------------------------------------------------------


class InvitationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[(s, s) for s in INVITATION_STATUSES], method="filter_status"
    )
    role = django_filters.ChoiceFilter(choices=Role.choices)
    email = django_filters.CharFilter(field_name="email", lookup_expr="icontains", max_length=254)

    class Meta:
        model = Invitation
        fields = ["status", "role", "email"]

    def filter_status(self, queryset, name, value):
        return queryset.filter(invitation_status_q(value))


_TOKEN_PAIR_ERRORS = {
    400: errors("VALIDATION_ERROR", "INVITATION_EMAIL_MISMATCH"),
    401: errors("INVALID_CREDENTIALS"),
    404: errors("INVITATION_NOT_FOUND"),
    409: errors("ACCOUNT_EXISTS"),
    429: errors("LOGIN_LOCKED", "RATE_LIMITED"),
    503: errors("AUTH_UNAVAILABLE"),
}


class InvitationViewSet(mixins.ListModelMixin, TenantViewSet):
    """Invitations of this organization: owners invite any role, managers staff only (and see
    and manage only staff invitations)."""

    serializer_class = InvitationSerializer
    filterset_class = InvitationFilter
    ordering_fields = ["created_at", "expires_at", "email"]
    ordering = ["-created_at"]
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request tenant
            return Invitation.objects.none()
        return invitation_list(
            organization_id=connection.tenant.pk, viewer_role=self.request.user.membership.role
        )

    def _access(self, pk) -> Invitation:
        invitation = self.get_queryset().filter(pk=pk).first()
        if invitation is None:
            raise NotFoundError()
        return invitation

    @extend_schema(responses={200: InvitationSerializer, 404: errors("NOT_FOUND")})
    def retrieve(self, request, pk=None):
        return Response(InvitationSerializer(self._access(pk)).data)

    @extend_schema(
        summary="Invite an email to this organization with a role",
        description="The invitee gets an email with a one-time link (72 h). The answer is the "
        "same whether the email already has an account or not.",
        request=InvitationCreateSerializer,
        responses={
            201: InvitationSerializer,
            400: errors("VALIDATION_ERROR"),
            403: errors("PERMISSION_DENIED", "INVITATION_ROLE_FORBIDDEN"),
            409: errors("ALREADY_MEMBER", "INVITATION_PENDING"),
        },
    )
    def create(self, request):
        data = InvitationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.invitation_create(
            organization=connection.tenant, invited_by=request.user, **data.validated_data
        )
        return Response(
            InvitationSerializer(issued.invitation).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Revoke an invitation (its link stops working)",
        responses={204: None, 404: errors("NOT_FOUND"), 409: errors("INVITATION_CLOSED")},
    )
    def destroy(self, request, pk=None):
        services.invitation_revoke(invitation=self._access(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Email a new link (the previous one stops working)",
        request=None,
        responses={
            200: InvitationSerializer,
            404: errors("NOT_FOUND"),
            409: errors("INVITATION_CLOSED", "INVITATION_SEND_LIMIT"),
            429: errors("INVITATION_RESEND_TOO_SOON", "RATE_LIMITED"),
        },
    )
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        issued = services.invitation_resend(invitation=self._access(pk))
        return Response(InvitationSerializer(issued.invitation).data)


class InvitationPreviewView(PublicAuthView):
    @extend_schema(
        summary="What an invitation link offers (no authentication: the token is the secret)",
        parameters=[OpenApiParameter("token", str, required=True)],
        responses={200: InvitationPreviewSerializer, 404: errors("INVITATION_NOT_FOUND")},
    )
    def get(self, request):
        invitation = invitation_get_pending(
            organization_id=connection.tenant.pk, token=request.query_params.get("token", "")
        )
        if invitation is None:
            raise services.InvitationNotFound()
        return Response(
            InvitationPreviewSerializer(
                {
                    "organization": invitation.organization.name,
                    "role": invitation.role,
                    "email": email_mask(invitation.email),
                    "status": invitation.status,
                    "expires_at": invitation.expires_at,
                }
            ).data
        )


class InvitationAcceptView(PublicAuthView):
    @extend_schema(
        summary="Accept an invitation: a new account, or the invited email's existing one",
        description="With `full_name`: creates the account with this password (Django's "
        "password validators apply). Without: `password` must be the existing account's own "
        "(the login lockout applies). Either way the membership is created and tokens for "
        "this organization are returned.",
        request=InvitationAcceptSerializer,
        responses={200: TokenPairSerializer, **_TOKEN_PAIR_ERRORS},
    )
    def post(self, request):
        data = InvitationAcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "full_name" in values:
            issued = services.invitation_accept_new_account(
                organization=connection.tenant,
                token=values["token"],
                password=values["password"],
                full_name=values["full_name"],
            )
        else:
            issued = services.invitation_accept_existing_account(
                organization=connection.tenant,
                token=values["token"],
                password=values["password"],
                email=values.get("email"),
                ip=client_ip(request),
            )
        return Response(
            {"access": issued.access, "refresh": issued.refresh, "role": issued.membership.role}
        )
