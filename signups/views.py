"""The signup endpoint of the platform host (``config.urls_public``)."""

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.client_ip import client_ip
from core.locale import supported_language
from core.schema import ErrorSerializer
from core.throttling import AnonRateThrottle, RateLimitThrottle, parse_rate

from . import services
from .serializers import SignupAcceptedSerializer, SignupSerializer


def _errors(*codes: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=f"Codes: {', '.join(codes)}.")


class SignupThrottle(RateLimitThrottle):
    """Applications per client IP (``SIGNUP_RATE``, on top of the anonymous per-IP limit):
    each one sends an email to an address nobody has proven yet."""

    def _scopes(self, request):
        limit = parse_rate(settings.SIGNUP_RATE)
        return [(f"signup-ip:{client_ip(request)}", *limit)] if limit else []


class SignupView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [AnonRateThrottle, SignupThrottle]

    @extend_schema(
        operation_id="signup_create",
        summary="Ask for a new organization",
        description="Served on the platform host only. The contact email gets a confirmation "
        "link (valid SIGNUP_CONFIRM_TTL_HOURS); once confirmed, the application waits for a "
        "platform operator, whose approval creates the organization at "
        "<slug>.<TENANT_DOMAIN_SUFFIX> and invites the contact email as its owner.",
        request=SignupSerializer,
        responses={
            202: SignupAcceptedSerializer,
            400: _errors("VALIDATION_ERROR", "INVALID_SLUG", "MALFORMED_REQUEST"),
            409: _errors("SLUG_TAKEN"),
            429: _errors("RATE_LIMITED"),
        },
        tags=["signup"],
    )
    def post(self, request):
        data = SignupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.signup_apply(
            **data.validated_data,
            language=supported_language(translation.get_language()) or settings.LANGUAGE_CODE,
            client_ip=client_ip(request),
        )
        return Response(
            {"detail": _("Check your email: open the link we sent to confirm the application.")},
            status=status.HTTP_202_ACCEPTED,
        )
