"""The audit trail's vocabularies: who acts, and one action code per audited write.

Codes are ``<target>.<verb>`` and never change once written (rows keep them for the retention
period, and API clients filter on them). ``audit/tests/test_coverage.py`` maps every public
function of every ``*/services.py`` to one of these codes (or to a stated reason it is not
audited): a new write service fails that test until someone decides.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ActorType(models.TextChoices):
    USER = "user", _("User")
    SCREEN = "screen", _("Screen")
    SYSTEM = "system", _("System")


class AuditAction(models.TextChoices):
    """What an organization's own people (and its jobs) did: ``AuditEvent.action``."""

    # tasks (creation and the floor's status moves are in the task events: docs/audit.md)
    TASK_CANCEL = "task.cancel", _("Task cancelled")
    TASK_EDIT = "task.edit", _("Task edited")
    TASK_PRIORITY = "task.priority", _("Task priority changed")
    TASK_RECALL = "task.recall", _("Task recalled")
    TASK_PIN = "task.pin", _("Task pinned")
    TASK_UNPIN = "task.unpin", _("Task unpinned")
    TASK_NOTE = "task.note", _("Task note added")
    # catalog and stock
    CATEGORY_CREATE = "category.create", _("Category created")
    CATEGORY_UPDATE = "category.update", _("Category updated")
    CATEGORY_DELETE = "category.delete", _("Category deleted")
    AGENT_CREATE = "agent.create", _("Agent created")
    AGENT_UPDATE = "agent.update", _("Agent updated")
    AGENT_DELETE = "agent.delete", _("Agent deleted")
    STOCK_ADJUST = "stock.adjust", _("Stock adjusted")
    # members and invitations
    MEMBER_INVITE = "member.invite", _("Member invited")
    MEMBER_ROLE = "member.role", _("Member role changed")
    MEMBER_REMOVE = "member.remove", _("Member removed")
    INVITATION_RESEND = "invitation.resend", _("Invitation resent")
    INVITATION_REVOKE = "invitation.revoke", _("Invitation revoked")
    INVITATION_ACCEPT = "invitation.accept", _("Invitation accepted")
    # organization
    SETTINGS_UPDATE = "settings.update", _("Settings updated")
    # display screens
    SCREEN_CREATE = "screen.create", _("Screen created")
    SCREEN_UPDATE = "screen.update", _("Screen updated")
    SCREEN_ROTATE = "screen.rotate", _("Screen token rotated")
    SCREEN_REVOKE = "screen.revoke", _("Screen revoked")
    # reports and exports
    REPORT_REGENERATE = "report.regenerate", _("Report regeneration requested")
    EXPORT_CREATE = "export.create", _("Export requested")  # the export job (issue 16 item 4)


class PlatformAction(models.TextChoices):
    """What operators (and platform commands) did: ``organizations.PlatformAuditEvent``."""

    ORGANIZATION_CREATE = "organization.create", _("Organization created")
    ORGANIZATION_UPDATE = "organization.update", _("Organization changed (plan, settings)")
    ORGANIZATION_SUSPEND = "organization.suspend", _("Organization suspended")
    ORGANIZATION_RESUME = "organization.resume", _("Organization resumed")
    ORGANIZATION_EXPORT = "organization.export", _("Organization exported")
    ORGANIZATION_DELETION_SCHEDULE = "organization.deletion_schedule", _("Deletion scheduled")
    ORGANIZATION_DELETION_CANCEL = "organization.deletion_cancel", _("Deletion cancelled")
    ORGANIZATION_PURGE = "organization.purge", _("Organization purged")
    SIGNUP_APPROVE = "signup.approve", _("Signup approved")
    SIGNUP_REJECT = "signup.reject", _("Signup rejected")
    LOCKOUT_UNLOCK = "lockout.unlock", _("Login lockout removed")
