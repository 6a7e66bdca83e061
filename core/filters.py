"""Query-string filters whose every accepted value is one the database can take.

django-filter parses what Python can represent, which is more than PostgreSQL accepts: an
ISO time with a ``-16:53`` offset parses, and PostgreSQL refuses it ("time zone displacement
out of range", a 500); a number past bigint reaches the query as a numeric. These fields turn
such values into a 400 naming the parameter.
"""

from datetime import UTC, timedelta

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField

# Real UTC offsets run from -12:00 to +14:00; PostgreSQL refuses anything past 15:59.
MAX_UTC_OFFSET = timedelta(hours=14)
BIGINT_MAX = 2**63 - 1


class BoundedIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 with an offset of at most 14 hours, handed on in UTC."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        offset = parsed.utcoffset()
        if offset is None or abs(offset) > MAX_UTC_OFFSET:
            raise forms.ValidationError(
                _("Use a UTC offset between -14:00 and +14:00."), code="invalid"
            )
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            # 0001-01-01T00:00+01:00 is before the first representable UTC instant.
            raise forms.ValidationError(
                _("Enter a date within years 1 to 9999."), code="invalid"
            ) from None


class BoundedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


class IdFilter(django_filters.NumberFilter):
    """A positive integer id that fits a bigint (a larger one is a 400, not a numeric query)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        kwargs.setdefault("decimal_places", 0)  # "1.5" is not an id
        super().__init__(*args, **kwargs)
