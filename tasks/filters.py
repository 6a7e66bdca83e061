import django_filters

from .choices import TaskStatus
from .models import Task


class TaskFilter(django_filters.FilterSet):
    """Query filters of the task list (``?status=pending&status=ready`` for several)."""

    status = django_filters.MultipleChoiceFilter(choices=TaskStatus.choices)
    business_date = django_filters.DateFilter()
    business_date_from = django_filters.DateFilter(field_name="business_date", lookup_expr="gte")
    business_date_to = django_filters.DateFilter(field_name="business_date", lookup_expr="lte")
    workspace = django_filters.CharFilter(max_length=20)
    pinned = django_filters.BooleanFilter()
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Task
        fields = []
