"""Exports in the operators' admin (DESIGN 12): the "export" action on organizations, a read-only
panel of each organization's exports with their progress, and a staff-only download.

Mixed into ``organizations.admin.OrganizationAdmin``; the export itself is the owner's job
(``exports.services.export_request`` with ``operator=``), audited in the platform audit.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import tenant_context

from core.exceptions import ApplicationError

from .constants import ZIP_CONTENT_TYPE
from .models import ExportJob
from .services import access_export_job, export_download_name, export_request

_PANEL_ROWS = 10


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


class ExportAdminMixin:
    """The export action, the ``exports`` panel and the download URL of the organizations admin."""

    @admin.action(description=_("Export the data of selected organizations"))
    def export_data(self, request, queryset):
        queued = 0
        for org in queryset:
            try:
                with tenant_context(org):
                    export_request(operator=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{org.slug}: {exc.message}", messages.ERROR)
            else:
                queued += 1
        if queued:
            self.message_user(
                request,
                gettext(
                    "Export queued for %(count)d organization(s): follow its progress on the "
                    "organization's page."
                )
                % {"count": queued},
                messages.SUCCESS,
            )

    @admin.display(description=_("Exports"))
    def exports(self, obj):
        with tenant_context(obj):
            jobs = list(ExportJob.objects.all()[:_PANEL_ROWS])
        if not jobs:
            return format_html("<p>{}</p>", gettext("No exports."))
        rows = []
        for job in jobs:
            link = "-"
            if job.status == "done" and job.file and job.expires_at > timezone.now():
                url = reverse(
                    f"admin:{obj._meta.app_label}_{obj._meta.model_name}_export_download",
                    args=[obj.pk, job.pk],
                )
                link = format_html('<a href="{}">{}</a>', url, gettext("Download"))
            rows.append(
                (
                    job.pk,
                    _when(job.created_at),
                    job.get_requested_via_display(),
                    job.get_status_display(),
                    f"{job.progress:.0%} ({job.rows_written}/{job.rows_total})",
                    f"{job.size_bytes:,}" if job.size_bytes else "-",
                    _when(job.expires_at),
                    job.error[:200] or link,
                )
            )
        headers = [
            _("Id"),
            _("Requested"),
            _("By"),
            _("Status"),
            _("Progress"),
            _("Bytes"),
            _("Link expires"),
            "",
        ]
        head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path(
                "<int:object_id>/export/<int:job_id>/download/",
                self.admin_site.admin_view(self.export_download_view),
                name="{}_{}_export_download".format(*info),
            ),
            *super().get_urls(),
        ]

    def export_download_view(self, request, object_id, job_id):
        """An operator downloads an organization's export (staff with the change permission)."""
        organization = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, organization):
            raise PermissionDenied
        with tenant_context(organization):
            try:
                job = access_export_job(job_id=job_id)
                name = export_download_name(job=job)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(
                    reverse(
                        f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_change",
                        args=[organization.pk],
                    )
                )
        stamp = job.finished_at.strftime("%Y%m%d-%H%M")
        return FileResponse(
            default_storage.open(name, "rb"),
            as_attachment=True,
            filename=f"{organization.slug}-export-{stamp}.zip",
            content_type=ZIP_CONTENT_TYPE,
        )
