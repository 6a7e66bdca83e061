"""Input and output shapes of the catalog API. No business rules here."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.serializers import StrictSerializer
from core.serializers import OrgDateTimeField

from .constants import MAX_PRICE_DIGITS, MAX_STOCK
from .models import Agent, AgentCategory, StockMovement, StockReconciliation

_MAX_SORT_ORDER = 2**31 - 1


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: no strings, floats or booleans silently coerced."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean only ("yes", 1 and "false" strings are refused)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class MoneyField(serializers.DecimalField):
    """A price: a string (or number) with at most 2 decimals, 0 <= x <= 99999999.99."""

    def __init__(self, **kwargs):
        super().__init__(
            max_digits=MAX_PRICE_DIGITS,
            decimal_places=2,
            min_value=0,
            coerce_to_string=True,
            **kwargs,
        )

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- categories ------------------------------------------------------------------------------


class AgentCategoryOutputSerializer(serializers.ModelSerializer):
    # From category_list()'s annotation: every answer reads the category through it.
    agent_count = serializers.IntegerField(read_only=True)
    created_at = OrgDateTimeField(read_only=True)
    updated_at = OrgDateTimeField(read_only=True)

    class Meta:
        model = AgentCategory
        fields = ["id", "name", "sort_order", "agent_count", "created_at", "updated_at"]
        read_only_fields = fields


class AgentCategoryInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    sort_order = StrictIntegerField(min_value=0, max_value=_MAX_SORT_ORDER, required=False)


# --- agents ----------------------------------------------------------------------------------


class AgentOutputSerializer(serializers.ModelSerializer):
    category_name = serializers.CharField(source="category.name", read_only=True)
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2, coerce_to_string=True)
    is_sold_out = serializers.BooleanField(read_only=True)
    stock = serializers.IntegerField(
        allow_null=True, help_text=_("null = unlimited"), read_only=True
    )
    created_at = OrgDateTimeField(read_only=True)
    updated_at = OrgDateTimeField(read_only=True)

    class Meta:
        model = Agent
        fields = [
            "id",
            "name",
            "category",
            "category_name",
            "unit_price",
            "is_available",
            "stock",
            "low_stock_threshold",
            "is_sold_out",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AgentCreateInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    category = serializers.PrimaryKeyRelatedField(queryset=AgentCategory.objects.all())
    unit_price = MoneyField()
    is_available = StrictBooleanField(required=False, default=True)
    stock = StrictIntegerField(
        min_value=0,
        max_value=MAX_STOCK,
        required=False,
        allow_null=True,
        default=None,
        help_text=_("Initial stock; null or omitted = unlimited."),
    )
    low_stock_threshold = StrictIntegerField(
        min_value=0, max_value=MAX_STOCK, required=False, default=0
    )


class AgentUpdateInputSerializer(StrictSerializer):
    """PATCH: any subset of the editable fields. ``stock`` is refused by name."""

    name = serializers.CharField(max_length=200, required=False)
    category = serializers.PrimaryKeyRelatedField(
        queryset=AgentCategory.objects.all(), required=False
    )
    unit_price = MoneyField(required=False)
    is_available = StrictBooleanField(required=False)
    low_stock_threshold = StrictIntegerField(min_value=0, max_value=MAX_STOCK, required=False)

    def validate(self, attrs):
        if "stock" in (getattr(self, "initial_data", None) or {}):
            raise serializers.ValidationError(
                {
                    "stock": [
                        _(
                            "Stock is read-only here: use POST "
                            "/api/v1/agents/{id}/stock-adjustments/."
                        )
                    ]
                }
            )
        return super().validate(attrs)


# --- stock -----------------------------------------------------------------------------------


class StockAdjustmentInputSerializer(StrictSerializer):
    """Exactly one of ``delta``, ``set_limited``, ``set_unlimited``, and a ``reason``."""

    delta = StrictIntegerField(
        min_value=-MAX_STOCK,
        max_value=MAX_STOCK,
        required=False,
        help_text=_("Change of a limited stock; not 0."),
    )
    set_limited = StrictIntegerField(
        min_value=0,
        max_value=MAX_STOCK,
        required=False,
        help_text=_("Start tracking an unlimited agent's stock at this value."),
    )
    set_unlimited = StrictBooleanField(
        required=False, help_text=_("true: stop tracking the stock (unlimited).")
    )
    reason = serializers.CharField(max_length=200, help_text=_("Why (kept in the ledger)."))

    def validate_delta(self, value):
        if value == 0:
            raise serializers.ValidationError(_("A delta of 0 changes nothing."))
        return value

    def validate_set_unlimited(self, value):
        if value is not True:
            raise serializers.ValidationError(_("Only true is accepted."))
        return value

    def validate(self, attrs):
        attrs = super().validate(attrs)
        given = [name for name in ("delta", "set_limited", "set_unlimited") if name in attrs]
        if len(given) != 1:
            names = given or ["delta"]
            raise serializers.ValidationError(
                {
                    name: [_("Give exactly one of delta, set_limited or set_unlimited.")]
                    for name in names
                }
            )
        return attrs


class StockMovementOutputSerializer(serializers.ModelSerializer):
    user_email = serializers.EmailField(source="user.email", read_only=True, default=None)
    at = OrgDateTimeField(read_only=True)

    class Meta:
        model = StockMovement
        fields = [
            "id",
            "agent",
            "delta",
            "reason",
            "task_id",
            "stock_after",
            "note",
            "user",
            "user_email",
            "at",
        ]
        read_only_fields = fields


class StockAdjustmentOutputSerializer(serializers.Serializer):
    agent = AgentOutputSerializer()
    movement = StockMovementOutputSerializer()


class StockReconciliationOutputSerializer(serializers.ModelSerializer):
    # Both null before the first run (the endpoint still answers, with nothing checked).
    id = serializers.IntegerField(read_only=True, allow_null=True)
    has_drift = serializers.BooleanField(read_only=True)
    checked_at = OrgDateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = StockReconciliation
        fields = ["id", "checked_at", "agents_checked", "has_drift", "drift", "duration_ms"]
        read_only_fields = fields
