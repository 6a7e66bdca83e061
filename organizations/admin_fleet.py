"""What the organizations admin adds for operators running the fleet (DESIGN 12).

- "Add organization" is a form over ``organization_provision`` (schema, domain, owner
  invitation), never a model form: a schema is only ever created by the service.
- Plan limits are list columns, editable in place (saved through ``organization_plan_update``).
- Usage columns (tasks today, screens online, last activity) for the rows on the page, read
  in one query (``organizations.admin_usage``).
- Read-only panels on an organization's page: report-job failures, stock reconciliation drift,
  screens.
- Actions: suspend / resume, schedule / cancel deletion. Django's delete is off.
- The fleet page (``/admin/fleet/``).
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import tenant_context

from core.exceptions import ApplicationError

from . import constants
from .admin_usage import Usage, fleet_summary, organization_usage
from .models import Domain, Organization
from .services import (
    DELETION_BY_OPERATOR,
    PLAN_LIMITS,
    _validate_slug,
    organization_deletion_cancel,
    organization_deletion_schedule,
    organization_plan_update,
    organization_provision,
    schema_name_for_slug,
)

PLAN_FIELDS = list(PLAN_LIMITS)
_PANEL_ROWS = 20


def _default_domain_help() -> str:
    # Formatted when shown (lazy), so in the reader's language, not the one active at import.
    return gettext("Default: <slug>.%(suffix)s") % {"suffix": settings.TENANT_DOMAIN_SUFFIX}


class OrganizationAddForm(forms.Form):
    """What an operator gives to create an organization; the service does the rest."""

    name = forms.CharField(label=_("Name"), max_length=200)
    slug = forms.CharField(
        label=_("Slug"),
        max_length=40,
        help_text=_("Lowercase letters, digits, hyphens; the schema is named after it."),
    )
    domain = forms.CharField(
        label=_("Domain"),
        max_length=253,
        required=False,
        help_text=lazy(_default_domain_help, str)(),
    )
    owner_email = forms.EmailField(
        label=_("Owner email"), help_text=_("Invited as owner: they choose their own password.")
    )
    language = forms.ChoiceField(
        label=_("Language"),
        choices=constants.LANGUAGE_CHOICES,
        initial=constants.DEFAULT_LANGUAGE,
    )
    timezone = forms.CharField(label=_("Timezone"), initial=constants.DEFAULT_TIMEZONE)
    max_agents = forms.IntegerField(
        label=_("Max agents"), min_value=0, initial=constants.DEFAULT_MAX_AGENTS
    )
    max_screens = forms.IntegerField(
        label=_("Max screens"), min_value=0, initial=constants.DEFAULT_MAX_SCREENS
    )
    requests_per_minute = forms.IntegerField(
        label=_("Requests per minute"), min_value=1, initial=constants.DEFAULT_REQUESTS_PER_MINUTE
    )
    audit_retention_days = forms.IntegerField(
        label=_("Audit retention (days)"),
        min_value=1,
        initial=constants.DEFAULT_AUDIT_RETENTION_DAYS,
    )
    event_retention_days = forms.IntegerField(
        label=_("Task event retention (days)"),
        min_value=1,
        initial=constants.DEFAULT_EVENT_RETENTION_DAYS,
    )

    def clean_slug(self):
        slug = self.cleaned_data["slug"].strip().lower()
        try:
            _validate_slug(slug)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc
        if (
            Organization.objects.filter(slug=slug).exists()
            or Organization.objects.filter(schema_name=schema_name_for_slug(slug)).exists()
        ):
            raise forms.ValidationError(_("An organization with this slug already exists."))
        return slug

    def clean(self):
        data = super().clean()
        if data.get("slug") and not data.get("domain"):
            data["domain"] = f"{data['slug']}.{settings.TENANT_DOMAIN_SUFFIX}"
        domain = (data.get("domain") or "").strip().lower()
        if domain and Domain.objects.filter(domain=domain).exists():
            self.add_error("domain", _("This domain is already in use."))
        data["domain"] = domain
        return data


class UsageChangeList(ChangeList):
    """Reads the usage of the page's rows once, after the page is cut."""

    def get_results(self, request):
        super().get_results(request)
        usage = organization_usage(list(self.result_list))
        for org in self.result_list:
            org.usage = usage.get(org.pk, Usage())


def _table(headers, rows, empty):
    if not rows:
        return format_html("<p>{}</p>", empty)
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


class OperatorOrganizationAdminMixin:
    """Mixed into ``OrganizationAdmin`` (organizations/admin.py)."""

    list_editable = PLAN_FIELDS
    list_per_page = 100
    panel_fields = ["report_job_failures", "reconciliation_drift", "screens"]

    # --- list --------------------------------------------------------------------------------

    def get_list_display_links(self, request, list_display):
        return ["name"]

    def get_changelist(self, request, **kwargs):
        return UsageChangeList

    @admin.display(description=_("Status"))
    def status(self, obj):
        if obj.deletion_scheduled_at is not None:
            return gettext("Deletion scheduled (purge after %(due)s)") % {
                "due": timezone.localtime(obj.deletion_due_at).strftime("%Y-%m-%d %H:%M")
            }
        return gettext("Active") if obj.is_active else gettext("Suspended")

    @admin.display(description=_("Tasks today"))
    def tasks_today(self, obj):
        return getattr(obj, "usage", Usage()).tasks_today

    @admin.display(description=_("Screens online"))
    def screens_online(self, obj):
        return getattr(obj, "usage", Usage()).screens_online

    @admin.display(description=_("Last activity"))
    def last_activity(self, obj):
        return getattr(obj, "usage", Usage()).last_activity or "-"

    # --- add: a form over the provisioning service -----------------------------------------

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = OrganizationAddForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = dict(form.cleaned_data)
            try:
                provisioned = organization_provision(
                    name=data.pop("name"),
                    slug=data.pop("slug"),
                    domain=data.pop("domain"),
                    owner_email=data.pop("owner_email"),
                    **data,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                org = provisioned.organization
                self.log_addition(request, org, [{"added": {}}])
                self.message_user(
                    request,
                    gettext("Created %(name)s; the owner invitation is on its way to %(email)s.")
                    % {"name": org.name, "email": form.cleaned_data["owner_email"]},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:organizations_organization_change", args=[org.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Add organization"),
            "form": form,
            "opts": self.model._meta,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/organizations/add_organization.html", context)

    # --- change: settings editable, plan through the service, panels read only -------------

    def has_delete_permission(self, request, obj=None):
        return False  # deletion is scheduled (actions), then purged: never dropped in one click

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_readonly_fields(self, request, obj=None):
        fields = [
            *super().get_readonly_fields(request, obj),
            "is_active",
            "deletion_scheduled_at",
            "deletion_due_at",
            "deletion_scheduled_by",
        ]
        return [*fields, *self.panel_fields] if obj is not None else fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        shown = set(self.panel_fields)
        main = [
            (name, {**opts, "fields": [f for f in opts["fields"] if f not in shown]})
            for name, opts in fieldsets
        ]
        return [*main, (_("Operations (read only)"), {"fields": self.panel_fields})]

    def save_model(self, request, obj, form, change):
        plan = {name: form.cleaned_data[name] for name in form.changed_data if name in PLAN_LIMITS}
        if change and plan:
            try:
                organization_plan_update(organization=obj, **plan)
            except ApplicationError as exc:
                raise PermissionDenied(exc.message) from exc
        rest = [name for name in form.changed_data if name not in PLAN_LIMITS]
        if rest or not change:
            super().save_model(request, obj, form, change)

    @admin.display(description=_("Report jobs that failed"))
    def report_job_failures(self, obj):
        from reports.choices import JobStatus
        from reports.models import ReportJob

        with tenant_context(obj):
            rows = [
                (
                    job.created_at.strftime("%Y-%m-%d %H:%M"),
                    job.get_kind_display(),
                    job.period,
                    job.error[:300],
                )
                for job in ReportJob.objects.filter(status=JobStatus.FAILED)[:_PANEL_ROWS]
            ]
        return _table(
            [_("When"), _("Kind"), _("Period"), _("Error")], rows, _("No failed report jobs.")
        )

    @admin.display(description=_("Stock reconciliation drift"))
    def reconciliation_drift(self, obj):
        from agents.models import StockReconciliation

        with tenant_context(obj):
            runs = list(StockReconciliation.objects.exclude(drift=[])[:_PANEL_ROWS])
        rows = [
            (
                run.checked_at.strftime("%Y-%m-%d %H:%M"),
                entry.get("name", entry.get("agent_id")),
                entry.get("stock"),
                entry.get("ledger"),
                entry.get("difference"),
            )
            for run in runs
            for entry in run.drift
        ][: _PANEL_ROWS * 5]
        return _table(
            [_("Checked"), _("Agent"), _("Stock"), _("Ledger"), _("Difference")],
            rows,
            _("No drift found by the reconciliation."),
        )

    @admin.display(description=_("Display screens"))
    def screens(self, obj):
        from displays.models import Screen

        with tenant_context(obj):
            rows = [
                (
                    screen.name,
                    screen.get_mode_display(),
                    gettext("yes") if screen.is_active else gettext("revoked"),
                    screen.last_seen_at.strftime("%Y-%m-%d %H:%M") if screen.last_seen_at else "-",
                )
                for screen in Screen.objects.all()[:100]
            ]
        return _table([_("Name"), _("Mode"), _("Active"), _("Last seen")], rows, _("No screens."))

    # --- actions -----------------------------------------------------------------------------

    def _each(self, request, queryset, fn, done_message):
        done = 0
        for org in queryset:
            try:
                fn(org)
            except ApplicationError as exc:
                self.message_user(request, f"{org.slug}: {exc.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, done_message % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Schedule deletion of selected organizations"))
    def schedule_deletion(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda org: organization_deletion_schedule(organization=org, by=DELETION_BY_OPERATOR),
            gettext(
                "Deletion scheduled for %%(count)d organization(s): purged in %(days)d days "
                "unless cancelled."
            )
            % {"days": settings.TENANT_DELETION_GRACE_DAYS},
        )

    @admin.action(description=_("Cancel the scheduled deletion of selected organizations"))
    def cancel_deletion(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda org: organization_deletion_cancel(organization=org, by=DELETION_BY_OPERATOR),
            gettext("Deletion cancelled for %(count)d organization(s)."),
        )


def fleet_view(request):
    """``/admin/fleet/``: organizations by status, tasks in the last hour, failed report jobs
    in the last 24 hours (over every organization, cached for a minute)."""
    from django.contrib import admin as django_admin

    fleet = fleet_summary(refresh=request.GET.get("refresh") == "1")
    context = {
        **django_admin.site.each_context(request),
        "title": _("Fleet"),
        "fleet": fleet,
    }
    return TemplateResponse(request, "admin/fleet.html", context)
