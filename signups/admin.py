from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.exceptions import ApplicationError

from . import services
from .models import SignupApplication


@admin.register(SignupApplication)
class SignupApplicationAdmin(admin.ModelAdmin):
    """Applications from the platform host: read only, decided by the approve / reject actions
    (approval provisions through ``organizations.services``, never through a model form)."""

    list_display = [
        "organization_name",
        "slug",
        "contact_email",
        "status",
        "language",
        "created_at",
        "confirmed_at",
        "decided_at",
        "organization",
    ]
    list_filter = ["status", "language"]
    search_fields = ["organization_name", "slug", "contact_email"]
    date_hierarchy = "created_at"
    actions = ["approve", "reject"]
    # Everything but the note an operator may write before rejecting (sent in the email);
    # the token's hash is nobody's business.
    exclude = ["token_hash"]
    readonly_fields = [
        f.name
        for f in SignupApplication._meta.fields
        if f.name not in ("decision_note", "token_hash", "id")
    ]

    def has_add_permission(self, request):
        return False  # applications come from the signup endpoint only

    def has_delete_permission(self, request, obj=None):
        return False  # the record of who asked and who decided stays

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description=_("Approve: create the organization and invite the owner"))
    def approve(self, request, queryset):
        for application in queryset:
            try:
                provisioned = services.signup_approve(
                    application=application, operator=request.user
                )
            except ApplicationError as exc:
                self.message_user(request, f"{application.slug}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    gettext("%(slug)s: organization created, owner invited.")
                    % {"slug": provisioned.organization.slug},
                    messages.SUCCESS,
                )

    @admin.action(description=_("Reject (a confirmed applicant is told by email)"))
    def reject(self, request, queryset):
        for application in queryset:
            try:
                services.signup_reject(
                    application=application,
                    operator=request.user,
                    note=application.decision_note,
                )
            except ApplicationError as exc:
                self.message_user(request, f"{application.slug}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    gettext("%(slug)s: rejected.") % {"slug": application.slug},
                    messages.SUCCESS,
                )
