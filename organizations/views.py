from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from .serializers import OrganizationSerializer, OrganizationUpdateSerializer
from .services import organization_update


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
