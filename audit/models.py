from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditTrailIsAppendOnly(Exception):
    """Raised on any attempt to change or delete an audit row outside retention."""


class AuditEventQuerySet(models.QuerySet):
    # Bulk paths that would bypass the model's save()/delete(): refused here too. Retention
    # deletes with its own SQL under a database flag (audit.services.audit_prune); the table's
    # trigger refuses every other UPDATE or DELETE, whatever sends it (migration 0002).
    def update(self, **kwargs):
        raise AuditTrailIsAppendOnly("audit events are never updated")

    def delete(self):
        raise AuditTrailIsAppendOnly("audit events are deleted by retention only")


class AuditEvent(models.Model):
    """One write in this organization: who (user, screen or a system job) did what to what.

    Written by the services in the transaction of the change (``audit.services.audit_record``):
    a rolled-back change leaves no row. Never updated; deleted only by retention.
    """

    at = models.DateTimeField(default=timezone.now, verbose_name=_("at"))
    actor_type = models.CharField(max_length=16, verbose_name=_("actor type"))  # ActorType
    # A user's or a screen's id (text: the same column for both); empty for the system.
    actor_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("actor ID"))
    # The user's email or the screen's name at the time (the person or screen may be gone).
    actor_label = models.CharField(
        max_length=254, blank=True, default="", verbose_name=_("actor label")
    )
    # audit.choices.AuditAction, checked by audit_record; no choices= here, so that a new code
    # needs no migration.
    action = models.CharField(max_length=64, verbose_name=_("action"))
    target_type = models.CharField(max_length=64, verbose_name=_("target type"))
    target_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("target ID"))
    target_label = models.CharField(
        max_length=254, blank=True, default="", verbose_name=_("target label")
    )
    # {field: [before, after]} (money as strings, times in ISO 8601); extra facts of an action
    # without a before (a note's text, an adjustment's delta) as [null, value].
    changes = models.JSONField(default=dict, blank=True, verbose_name=_("changes"))
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("IP"))
    request_id = models.CharField(
        max_length=128, blank=True, default="", verbose_name=_("request ID")
    )

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["-at", "-id"], name="audit_at_idx"),
            models.Index(fields=["action", "-at"], name="audit_action_at_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(fields=["actor_type", "actor_id"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label or self.actor_type} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditTrailIsAppendOnly("audit events are never updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly("audit events are deleted by retention only")
