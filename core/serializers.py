from zoneinfo import ZoneInfo

from django.db import connection
from rest_framework import serializers


class OrgDateTimeField(serializers.DateTimeField):
    """ISO 8601 in the organization's own timezone (``+08:00``), whatever the server's is."""

    def default_timezone(self):
        tenant = getattr(connection, "tenant", None)
        zone_name = getattr(tenant, "timezone", None) if tenant is not None else None
        if zone_name:
            # ZoneInfo keeps its instances per name (what organizations.business_day.org_zone
            # returns too): no file read per field.
            return ZoneInfo(zone_name)
        return super().default_timezone()
