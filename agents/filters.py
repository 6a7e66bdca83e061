"""Query-string filters and ordering of the catalog lists."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from rest_framework.filters import OrderingFilter

from core.filters import IdFilter

from .models import Agent, AgentCategory


class StableOrderingFilter(OrderingFilter):
    """``?ordering=`` plus ``id`` as the last key: pages never repeat or skip rows on ties."""

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not any(field.lstrip("-") == "id" for field in ordering):
            ordering.append("id")
        return ordering


class _StrictBooleanFormField(forms.Field):
    _VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        try:
            return self._VALUES[str(value).lower()]
        except KeyError:
            raise forms.ValidationError(_("Use true or false."), code="invalid") from None


class StrictBooleanFilter(django_filters.BooleanFilter):
    """``true``/``false`` (or 1/0); anything else is a 400 instead of being ignored."""

    field_class = _StrictBooleanFormField


class AgentFilter(django_filters.FilterSet):
    category = IdFilter(field_name="category_id")
    available = StrictBooleanFilter(field_name="is_available")
    sold_out = StrictBooleanFilter(method="filter_sold_out", label=_("Sold out"))
    search = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", max_length=200, label=_("Name contains")
    )

    class Meta:
        model = Agent
        fields = ["category", "available", "sold_out", "search"]

    def filter_sold_out(self, queryset, name, value):
        return queryset.filter(stock=0) if value else queryset.exclude(stock=0)


class CategoryFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", max_length=100, label=_("Name contains")
    )

    class Meta:
        model = AgentCategory
        fields = ["search"]
