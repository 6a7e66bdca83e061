from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import tenant_user_fk


class ScreenMode(models.TextChoices):
    """What a screen shows: a line station's part of each task, or the expo (the pass)."""

    LINE = "line", _("Line station")
    EXPO = "expo", _("Expo")


class Screen(models.Model):
    """A display screen (kitchen display) of the organization.

    Not a user: it authenticates with a secret token, of which only the SHA-256 is stored (the
    token is shown once, on create and on rotate). ``station`` lists the agent categories it
    handles; empty means every station. A revoked screen (``is_active=False``) is disconnected.
    ``mode`` ``expo``: the pass, which sees whole tasks with each line's done marks and whose
    bump completes the task (docs/realtime.md, Board).
    """

    name = models.CharField(max_length=100, verbose_name=_("name"))
    station = ArrayField(
        models.BigIntegerField(), default=list, blank=True, verbose_name=_("station")
    )
    mode = models.CharField(
        max_length=8, choices=ScreenMode.choices, default=ScreenMode.LINE, verbose_name=_("mode")
    )
    token_hash = models.CharField(max_length=64, unique=True, verbose_name=_("token hash"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_by = tenant_user_fk(null=True, blank=True, verbose_name=_("created by"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    last_seen_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last seen at"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("display screen")
        verbose_name_plural = _("display screens")

    def __str__(self) -> str:
        return self.name
