from django.db import models
from django.utils.translation import gettext_lazy as _


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    # Done, and the 24 h of its link have passed: the file is gone.
    EXPIRED = "expired", _("Expired")


class ExportRequester(models.TextChoices):
    OWNER = "owner", _("Owner")
    OPERATOR = "operator", _("Platform operator")


IN_FLIGHT = (ExportStatus.QUEUED, ExportStatus.RUNNING)
FINISHED = (ExportStatus.DONE, ExportStatus.FAILED, ExportStatus.EXPIRED)
