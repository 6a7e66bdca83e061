from django.db import models
from django.utils.translation import gettext_lazy as _


class StockReason(models.TextChoices):
    INITIAL = "initial", _("Initial stock")
    TASK = "task", _("Task created")
    CANCEL = "cancel", _("Task cancelled")
    EXPIRE = "expire", _("Task expired")
    ADJUSTMENT = "adjustment", _("Manual adjustment")
