"""Query filters of the audit trail: each bad value is a 400 naming its parameter."""

import django_filters
from django.utils.translation import gettext_lazy as _

from core.filters import BoundedIsoDateTimeField

from .choices import ActorType, AuditAction
from .models import AuditEvent


class _DateOrDateTimeField(BoundedIsoDateTimeField):
    """An ISO 8601 instant (offset of at most 14 h), or a plain date (its midnight, UTC)."""

    def to_python(self, value):
        if isinstance(value, str) and len(value.strip()) == 10:
            value = f"{value.strip()}T00:00:00+00:00"
        return super().to_python(value)


class _DateOrDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _DateOrDateTimeField


class AuditEventFilter(django_filters.FilterSet):
    actor_type = django_filters.ChoiceFilter(choices=ActorType.choices)
    actor_id = django_filters.CharFilter(max_length=64)
    action = django_filters.MultipleChoiceFilter(choices=AuditAction.choices)
    target_type = django_filters.CharFilter(max_length=64)
    target_id = django_filters.CharFilter(max_length=64)
    # from: at or after; to: before (half-open, so consecutive ranges never share a row).
    from_ = _DateOrDateTimeFilter(field_name="at", lookup_expr="gte", label=_("From"))
    to = _DateOrDateTimeFilter(field_name="at", lookup_expr="lt", label=_("To"))

    class Meta:
        model = AuditEvent
        fields = []

    def get_form_class(self):
        base = super().get_form_class()

        class RangeForm(base):
            def clean(self):
                data = super().clean()
                start, end = data.get("from"), data.get("to")
                if start and end and start > end:
                    self.add_error("to", _("Must not be before from."))
                return data

        return RangeForm


# "from" is a Python keyword: declared as from_, served (and documented) as ?from=.
AuditEventFilter.base_filters["from"] = AuditEventFilter.base_filters.pop("from_")
