"""Generate reports synchronously in this process (backfills, repairs).

manage.py generate_reports --org acme --date 2026-01-14
manage.py generate_reports --org acme --month 2026-01
manage.py generate_reports --all --from 2026-01-01 --to 2026-01-31
manage.py generate_reports --all            # the latest due day of every organization
"""

import re
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context
from tqdm import tqdm

from organizations.business_day import business_date
from organizations.models import Organization
from organizations.selectors import organization_list_active
from reports.choices import ReportKind
from reports.services import month_last_day, report_due_date, report_generate


def _parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(
            _("Invalid %(option)s '%(value)s': use YYYY-MM-DD, e.g. 2026-01-14.")
            % {"option": option, "value": value}
        ) from exc


def _parse_month(value: str) -> date:
    match = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise CommandError(
            _("Invalid --month '%(value)s': use YYYY-MM, e.g. 2026-01.") % {"value": value}
        )
    return date(int(match.group(1)), int(match.group(2)), 1)


class Command(BaseCommand):
    help = _("Generate daily or monthly reports now, in this process (for backfills).")

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--org", help="Organization slug.")
        who.add_argument("--all", action="store_true", help="Every active organization.")
        when = parser.add_mutually_exclusive_group()
        when.add_argument("--date", help="One business date, YYYY-MM-DD.")
        when.add_argument("--month", help="One month, YYYY-MM (monthly report).")
        when.add_argument("--from", dest="date_from", help="First business date of a range.")
        parser.add_argument("--to", dest="date_to", help="Last business date of the range.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, **opts):
        organizations = self._organizations(opts)
        jobs = []
        now = timezone.now()
        for organization in organizations:
            for kind, period in self._periods(organization, opts, now):
                jobs.append((organization, kind, period))
        if not jobs:
            raise CommandError(_("Nothing to generate."))
        failures = 0
        bar = tqdm(jobs, unit="report", disable=opts["no_progress"], file=self.stderr._out)
        for organization, kind, period in bar:
            bar.set_description(f"{organization.slug} {kind} {period}")
            with tenant_context(organization):
                try:
                    report_generate(kind=kind, period=period, force=True)
                except Exception as exc:
                    failures += 1
                    self.stderr.write(f"{organization.slug} {kind} {period}: {exc}")
        done = len(jobs) - failures
        self.stdout.write(
            self.style.SUCCESS(
                _("%(done)d report(s) generated, %(failures)d failed.")
                % {"done": done, "failures": failures}
            )
        )
        if failures:
            raise CommandError(
                _("%(failures)d report(s) failed; see the messages above.") % {"failures": failures}
            )

    def _organizations(self, opts) -> list[Organization]:
        if opts["all"]:
            return list(organization_list_active().order_by("slug"))
        organization = (
            Organization.objects.exclude(schema_name="public").filter(slug=opts["org"]).first()
        )
        if organization is None:
            known = ", ".join(
                Organization.objects.exclude(schema_name="public")
                .order_by("slug")
                .values_list("slug", flat=True)[:20]
            )
            raise CommandError(
                _("Unknown organization '%(org)s'. Use one of the slugs: %(known)s or --all.")
                % {"org": opts["org"], "known": known or _("(none)")}
            )
        return [organization]

    def _periods(self, organization, opts, now) -> list[tuple[str, date]]:
        today = business_date(organization, now)
        if opts["month"]:
            month = _parse_month(opts["month"])
            if month_last_day(month) >= today:
                raise CommandError(
                    _("--month %(month)s has not closed yet for %(org)s: pick an earlier month.")
                    % {"month": opts["month"], "org": organization.slug}
                )
            return [(ReportKind.MONTHLY, month)]
        if opts["date"]:
            first = last = _parse_date(opts["date"], "--date")
        elif opts["date_from"] or opts["date_to"]:
            if not (opts["date_from"] and opts["date_to"]):
                raise CommandError(_("Give both --from and --to (YYYY-MM-DD)."))
            first = _parse_date(opts["date_from"], "--from")
            last = _parse_date(opts["date_to"], "--to")
            if first > last:
                raise CommandError(_("--from must be on or before --to."))
        else:
            first = last = report_due_date(organization, now)
        if last >= today:
            raise CommandError(
                _(
                    "Business day %(day)s has not closed yet for %(org)s (today is %(today)s "
                    "there): pick an earlier date."
                )
                % {"day": last, "org": organization.slug, "today": today}
            )
        return [
            (ReportKind.DAILY, first + timedelta(days=i)) for i in range((last - first).days + 1)
        ]
