from django.db import models
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    TASK_CREATED = "task.created", "task.created"
    TASK_UPDATED = "task.updated", "task.updated"
    TASK_STATUS_CHANGED = "task.status_changed", "task.status_changed"
    TASK_RECALLED = "task.recalled", "task.recalled"
    TASK_CANCELLED = "task.cancelled", "task.cancelled"
    AGENT_LOW_STOCK = "agent.low_stock", "agent.low_stock"
    AGENT_SOLD_OUT = "agent.sold_out", "agent.sold_out"
    # Stock back out of sold out / low (boards clear their strip): agents.stock._restocked.
    AGENT_RESTOCKED = "agent.restocked", "agent.restocked"


class ActorType(models.TextChoices):
    """Who made a change recorded by an event (``TaskEvent.actor["type"]``)."""

    USER = "user", _("User")
    SCREEN = "screen", _("Screen")
    SYSTEM = "system", _("System")
