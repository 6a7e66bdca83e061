"""The audit trail, read only: list (filters, newest first, paginated) and detail."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.response import Response

from core.api import TenantViewSet
from core.exceptions import NotFoundError

from .filters import AuditEventFilter
from .selectors import audit_event_get, audit_event_list
from .serializers import AuditEventOutputSerializer


@extend_schema_view(list=extend_schema(responses={200: AuditEventOutputSerializer(many=True)}))
class AuditEventViewSet(mixins.ListModelMixin, TenantViewSet):
    """Who did what: managers and owners read it; nobody writes it through the API."""

    serializer_class = AuditEventOutputSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = AuditEventFilter
    http_method_names = ["get", "head", "options"]

    def get_queryset(self):
        return audit_event_list()

    def retrieve(self, request, pk=None):
        event = audit_event_get(event_id=pk)
        if event is None:
            raise NotFoundError()
        return Response(AuditEventOutputSerializer(event).data)
