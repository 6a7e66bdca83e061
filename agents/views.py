"""Catalog endpoints. Views validate input, call one service or selector, serialize."""

from django.http import HttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.api import TenantViewSet

from . import services
from .cache import catalog_cache_key, catalog_cache_lookup, catalog_cache_store
from .filters import AgentFilter, CategoryFilter, StableOrderingFilter
from .selectors import agent_list, category_list, stock_movement_list, stock_reconciliation_last
from .serializers import (
    AgentCategoryInputSerializer,
    AgentCategoryOutputSerializer,
    AgentCreateInputSerializer,
    AgentOutputSerializer,
    AgentUpdateInputSerializer,
    StockAdjustmentInputSerializer,
    StockAdjustmentOutputSerializer,
    StockMovementOutputSerializer,
    StockReconciliationOutputSerializer,
)

_HTTP_METHODS = ["get", "post", "patch", "delete", "head", "options"]


class CachedListMixin(mixins.ListModelMixin):
    """Serves list pages from the per-organization catalog cache (see ``agents.cache``).

    The rendered JSON bytes are cached, so a hit skips the query, the serializer and the
    renderer; authentication, the role check and throttles have already run.
    """

    cache_resource: str = ""

    def list(self, request, *args, **kwargs):
        key = catalog_cache_key(
            resource=self.cache_resource,
            host=request.get_host(),
            query_string=request.META.get("QUERY_STRING", ""),
        )
        page = catalog_cache_lookup(key=key)
        if page.body is not None:
            return HttpResponse(page.body, content_type="application/json")
        response = super().list(request, *args, **kwargs)
        body = JSONRenderer().render(response.data)
        catalog_cache_store(page=page, body=body)
        return HttpResponse(body, content_type="application/json")


@extend_schema_view(
    list=extend_schema(responses={200: AgentCategoryOutputSerializer(many=True)}),
)
class AgentCategoryViewSet(CachedListMixin, TenantViewSet):
    """Agent categories. Read: staff; create/update/delete: manager."""

    serializer_class = AgentCategoryOutputSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = CategoryFilter
    ordering_fields = ["name", "sort_order", "created_at", "id"]
    ordering = ["sort_order", "name"]
    http_method_names = _HTTP_METHODS
    cache_resource = "categories"

    def get_queryset(self):
        return category_list()

    @staticmethod
    def _output(category) -> dict:
        # Read back through category_list(): its annotation is the agent_count the schema
        # promises (a created or updated instance does not carry it).
        return AgentCategoryOutputSerializer(category_list().get(pk=category.pk)).data

    def retrieve(self, request, pk=None):
        return Response(self._output(services.access_category(category_id=pk)))

    @extend_schema(
        request=AgentCategoryInputSerializer, responses={201: AgentCategoryOutputSerializer}
    )
    def create(self, request):
        data = AgentCategoryInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        category = services.category_create(**data.validated_data)
        return Response(self._output(category), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=AgentCategoryInputSerializer, responses={200: AgentCategoryOutputSerializer}
    )
    def partial_update(self, request, pk=None):
        category = services.access_category(category_id=pk)
        data = AgentCategoryInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        category = services.category_update(category=category, **data.validated_data)
        return Response(self._output(category))

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="CATEGORY_IN_USE")})
    def destroy(self, request, pk=None):
        services.category_delete(category=services.access_category(category_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(responses={200: AgentOutputSerializer(many=True)}),
)
class AgentViewSet(CachedListMixin, TenantViewSet):
    """The catalog. Read: staff; create/update/delete and stock: manager."""

    serializer_class = AgentOutputSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = AgentFilter
    ordering_fields = [
        "name",
        "unit_price",
        "stock",
        "created_at",
        "updated_at",
        "id",
        "category__sort_order",
    ]
    ordering = ["category__sort_order", "name"]
    http_method_names = _HTTP_METHODS
    cache_resource = "agents"

    def get_queryset(self):
        return agent_list()

    def retrieve(self, request, pk=None):
        return Response(AgentOutputSerializer(services.access_agent(agent_id=pk)).data)

    @extend_schema(request=AgentCreateInputSerializer, responses={201: AgentOutputSerializer})
    def create(self, request):
        data = AgentCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = services.agent_create(user=request.user, **data.validated_data)
        return Response(AgentOutputSerializer(agent).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AgentUpdateInputSerializer, responses={200: AgentOutputSerializer})
    def partial_update(self, request, pk=None):
        agent = services.access_agent(agent_id=pk)
        data = AgentUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        agent = services.agent_update(agent=agent, **data.validated_data)
        return Response(AgentOutputSerializer(agent).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="AGENT_IN_USE")})
    def destroy(self, request, pk=None):
        services.agent_delete(agent=services.access_agent(agent_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=StockAdjustmentInputSerializer,
        responses={
            201: StockAdjustmentOutputSerializer,
            409: OpenApiResponse(
                description="INSUFFICIENT_STOCK, STOCK_UNLIMITED, STOCK_ALREADY_LIMITED, "
                "STOCK_TOO_HIGH"
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="stock-adjustments")
    def stock_adjustments(self, request, pk=None):
        services.access_agent(agent_id=pk)  # 404 before validation: nothing leaks
        data = StockAdjustmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        agent, movement = services.agent_stock_adjust(
            agent_id=pk, user=request.user, note=fields.pop("reason"), **fields
        )
        return Response(
            StockAdjustmentOutputSerializer({"agent": agent, "movement": movement}).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(responses={200: StockMovementOutputSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="stock-movements", filter_backends=[])
    def stock_movements(self, request, pk=None):
        agent = services.access_agent(agent_id=pk)
        page = self.paginate_queryset(stock_movement_list(agent=agent))
        return self.get_paginated_response(StockMovementOutputSerializer(page, many=True).data)

    @extend_schema(responses={200: StockReconciliationOutputSerializer})
    @action(detail=False, methods=["get"], url_path="reconciliation", filter_backends=[])
    def reconciliation(self, request):
        result = stock_reconciliation_last()
        if result is None:
            return Response(
                {
                    "id": None,
                    "checked_at": None,
                    "agents_checked": 0,
                    "has_drift": False,
                    "drift": [],
                    "duration_ms": 0,
                }
            )
        return Response(StockReconciliationOutputSerializer(result).data)
