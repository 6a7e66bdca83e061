"""Purge the organizations whose scheduled deletion is past ``TENANT_DELETION_GRACE_DAYS``."""

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.context import actor_system, audit_actor_bind
from core.exceptions import ApplicationError
from organizations.selectors import organization_list_purge_due
from organizations.services import organization_purge


class Command(BaseCommand):
    help = _(
        "Drop the schema, the stored files, domains, memberships and invitations of every "
        "organization whose scheduled deletion is past its grace period (also run hourly by "
        "beat). The platform audit keeps a record of each."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help=_("List what would be purged; change nothing.")
        )

    def handle(self, *args, **opts):
        now = timezone.now()
        due = list(organization_list_purge_due(now=now))
        total = len(due)
        if not total:
            self.stdout.write(_("Nothing to purge."))
            return
        purged = failed = 0
        with audit_actor_bind(actor_system("purge_organizations")):
            for index, organization in enumerate(due, start=1):
                label = f"[{index}/{total}] {organization.slug} ({organization.schema_name})"
                if opts["dry_run"]:
                    self.stdout.write(
                        _("%(label)s would be purged (due %(due)s)")
                        % {"label": label, "due": organization.deletion_due_at.isoformat()}
                    )
                    continue
                try:
                    summary = organization_purge(organization=organization, now=now)
                except ApplicationError as exc:  # cancelled meanwhile: nothing to do
                    failed += 1
                    self.stdout.write(
                        _("%(label)s skipped: %(message)s")
                        % {"label": label, "message": exc.message}
                    )
                    continue
                purged += 1
                self.stdout.write(
                    _("%(label)s purged: %(files)d file(s) deleted")
                    % {"label": label, "files": summary.get("files", 0)}
                )
        if opts["dry_run"]:
            self.stdout.write(
                _("Dry run: %(count)d organization(s) due, nothing changed.") % {"count": total}
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    _("Purged %(purged)d of %(total)d organization(s); %(skipped)d skipped.")
                    % {"purged": purged, "total": total, "skipped": failed}
                )
            )
