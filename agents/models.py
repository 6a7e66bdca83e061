from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import tenant_user_fk

from .choices import StockReason


class AgentCategory(models.Model):
    """A group of agents (starters, hot dishes, drinks). Stations are sets of categories."""

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    sort_order = models.PositiveIntegerField(default=0, verbose_name=_("sort order"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name = _("agent category")
        verbose_name_plural = _("agent categories")

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    """A catalog entry the organization can deliver (a dish, a service), with its price and an
    optional stock (``None`` = unlimited). Stock is only ever changed by a conditional UPDATE in
    ``agents.services`` and the CHECK constraint below makes a negative value impossible."""

    name = models.CharField(max_length=200, verbose_name=_("name"))
    category = models.ForeignKey(
        AgentCategory, on_delete=models.PROTECT, related_name="agents", verbose_name=_("category")
    )
    unit_price = models.DecimalField(max_digits=10, decimal_places=2, verbose_name=_("unit price"))
    is_available = models.BooleanField(default=True, verbose_name=_("is available"))
    stock = models.IntegerField(null=True, blank=True, verbose_name=_("stock"))
    low_stock_threshold = models.PositiveIntegerField(
        default=0, verbose_name=_("low stock threshold")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["category__sort_order", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(stock__gte=0), name="agent_stock_non_negative"
            ),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="agent_price_non_negative"),
        ]
        indexes = [models.Index(fields=["category", "name"])]
        verbose_name = _("agent")
        verbose_name_plural = _("agents")

    def __str__(self) -> str:
        return self.name

    @property
    def is_sold_out(self) -> bool:
        return self.stock == 0


class StockMovement(models.Model):
    """One change of an agent's stock: the ledger. ``sum(delta) == stock`` for every limited
    agent, the initial stock being the first movement (reason ``initial``)."""

    agent = models.ForeignKey(
        Agent, on_delete=models.CASCADE, related_name="stock_movements", verbose_name=_("agent")
    )
    delta = models.IntegerField(verbose_name=_("delta"))
    reason = models.CharField(max_length=16, choices=StockReason.choices, verbose_name=_("reason"))
    task_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, verbose_name=_("task ID")
    )
    stock_after = models.IntegerField(verbose_name=_("stock after"))
    user = tenant_user_fk(null=True, blank=True, verbose_name=_("user"))
    note = models.CharField(max_length=200, blank=True, verbose_name=_("note"))
    at = models.DateTimeField(default=timezone.now, verbose_name=_("at"))

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["agent", "-at"])]
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")

    def __str__(self) -> str:
        return f"{self.agent_id} {self.delta:+d} ({self.reason})"


class StockReconciliation(models.Model):
    """One run of the hourly ledger check: which agents' stock differs from the sum of their
    movements (``drift``: a list of ``{agent_id, name, stock, ledger, difference}``)."""

    checked_at = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("checked at")
    )
    agents_checked = models.PositiveIntegerField(default=0, verbose_name=_("agents checked"))
    drift = models.JSONField(default=list, blank=True, verbose_name=_("drift"))
    duration_ms = models.PositiveIntegerField(default=0, verbose_name=_("duration ms"))

    class Meta:
        ordering = ["-checked_at", "-id"]
        verbose_name = _("stock reconciliation")
        verbose_name_plural = _("stock reconciliations")

    def __str__(self) -> str:
        return f"{self.checked_at:%Y-%m-%d %H:%M} ({len(self.drift)} drifting)"

    @property
    def has_drift(self) -> bool:
        return bool(self.drift)
