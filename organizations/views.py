from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import StrictSerializer
from core.client_ip import client_ip
from core.schema import ErrorSerializer

from .serializers import OrganizationSerializer, OrganizationUpdateSerializer
from .services import (
    DELETION_BY_OWNER,
    organization_deletion_cancel,
    organization_deletion_request,
    organization_update,
)


class OrganizationSettingsView(APIView):
    """The current organization's settings: every member reads, the owner changes."""

    @extend_schema(responses={200: OrganizationSerializer})
    def get(self, request):
        return Response(OrganizationSerializer(connection.tenant).data)

    @extend_schema(request=OrganizationUpdateSerializer, responses={200: OrganizationSerializer})
    def patch(self, request):
        data = OrganizationUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        org = organization_update(organization=connection.tenant, **data.validated_data)
        return Response(OrganizationSerializer(org).data)


class DeletionRequestSerializer(StrictSerializer):
    password = serializers.CharField(
        max_length=256, trim_whitespace=False, help_text="The owner's password, re-entered."
    )


class DeletionStatusSerializer(serializers.Serializer):
    deletion_scheduled_at = serializers.DateTimeField()
    deletion_due_at = serializers.DateTimeField()


def _errors(*codes: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=f"Codes: {', '.join(codes)}.")


class OrganizationDeletionView(APIView):
    """The owner schedules (re-entering the password) or cancels the organization's deletion.

    Reachable while the deletion is scheduled (organizations.middleware), unlike the rest."""

    @extend_schema(
        summary="Schedule this organization's deletion",
        description="The organization is refused at once (403 ORGANIZATION_DELETION_SCHEDULED) "
        "on every other route and WebSocket, and purged for good after "
        "TENANT_DELETION_GRACE_DAYS unless the owner cancels. The password counts against the "
        "login lockout.",
        request=DeletionRequestSerializer,
        responses={
            202: DeletionStatusSerializer,
            403: _errors("INVALID_PASSWORD", "PERMISSION_DENIED"),
            409: _errors("DELETION_ALREADY_SCHEDULED"),
            429: _errors("LOGIN_LOCKED", "RATE_LIMITED"),
            503: _errors("AUTH_UNAVAILABLE"),
        },
    )
    def post(self, request):
        data = DeletionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        org = organization_deletion_request(
            organization=connection.tenant,
            user=request.user,
            password=data.validated_data["password"],
            ip=client_ip(request),
        )
        return Response(DeletionStatusSerializer(org).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Cancel this organization's scheduled deletion",
        description="During the grace period; a deletion the platform operator scheduled can "
        "only be cancelled by the operator.",
        request=None,
        responses={
            204: None,
            403: _errors("DELETION_SCHEDULED_BY_OPERATOR", "PERMISSION_DENIED"),
            409: _errors("DELETION_NOT_SCHEDULED"),
        },
    )
    def delete(self, request):
        organization_deletion_cancel(organization=connection.tenant, by=DELETION_BY_OWNER)
        return Response(status=status.HTTP_204_NO_CONTENT)
