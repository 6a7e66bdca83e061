import django_filters

from core.filters import BoundedIsoDateTimeFilter

from .choices import TaskPriority, TaskStatus
from .constants import SEARCH_MAX_LENGTH
from .models import Task, TaskSearchText

_TRUE_VALUES = ("true", "1")
_BOOLEAN_VALUES = ("true", "false", "1", "0")


class TaskFilter(django_filters.FilterSet):
    """Query filters of the task list (``?status=pending&status=ready`` for several)."""

    status = django_filters.MultipleChoiceFilter(choices=TaskStatus.choices)
    priority = django_filters.ChoiceFilter(choices=TaskPriority.choices)
    # Case-insensitive "contains" over number, workspace and customer name, served by the
    # trigram index on the same expression (tasks.models.TaskSearchText).
    search = django_filters.CharFilter(method="filter_search", max_length=SEARCH_MAX_LENGTH)
    business_date = django_filters.DateFilter()
    business_date_from = django_filters.DateFilter(field_name="business_date", lookup_expr="gte")
    business_date_to = django_filters.DateFilter(field_name="business_date", lookup_expr="lte")
    workspace = django_filters.CharFilter(max_length=20)
    # Strict: "maybe" is a 400, not silently ignored (django-filter's BooleanFilter ignores it).
    pinned = django_filters.TypedChoiceFilter(
        choices=[(v, v) for v in _BOOLEAN_VALUES], coerce=lambda v: v in _TRUE_VALUES
    )
    # Offsets past 14 hours are a 400 (PostgreSQL refuses them: it was a 500).
    created_after = BoundedIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = BoundedIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Task
        fields = []

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # upper() as the index does; "|" would match across two fields (the separator).
        return queryset.alias(search_text=TaskSearchText()).filter(
            search_text__contains=value.upper()
        )
