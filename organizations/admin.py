from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership
from audit.choices import PlatformAction
from audit.services import audit_changes, audit_snapshot, platform_audit_record
from exports.admin_actions import ExportAdminMixin

from .admin_fleet import OperatorOrganizationAdminMixin
from .models import Domain, Organization, PlatformAuditEvent
from .services import PLAN_LIMITS, organization_set_active


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class MembershipInline(admin.TabularInline):
    """Members, read only: people join by invitation (DESIGN 3), roles change through the
    owner's API (audited), never by an operator's edit of the row."""

    model = Membership
    extra = 0
    fields = readonly_fields = ["user", "role", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Organization)
class OrganizationAdmin(ExportAdminMixin, OperatorOrganizationAdminMixin, admin.ModelAdmin):
    # Columns, add form, plan limits, usage, panels, deletion: admin_fleet.py; the export
    # action, its panel and download: exports/admin_actions.py.
    list_display = [
        "name",
        "slug",
        "status",
        *PLAN_LIMITS,  # editable in place (list_editable)
        "tasks_today",
        "screens_online",
        "last_activity",
        "created_at",
    ]
    list_filter = ["is_active", ("deletion_scheduled_at", admin.EmptyFieldListFilter), "timezone"]
    search_fields = ["name", "slug", "schema_name", "domains__domain"]
    readonly_fields = ["schema_name", "created_at", "updated_at"]
    inlines = [DomainInline, MembershipInline]
    actions = ["suspend", "reactivate", "schedule_deletion", "cancel_deletion", "export_data"]
    panel_fields = [*OperatorOrganizationAdminMixin.panel_fields, "exports"]

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(schema_name="public")

    def save_model(self, request, obj, form, change):
        # An operator's edit (plan limits, settings) is audited on the platform, in the admin's
        # own transaction; the fields come from the form, the "before" from the database.
        # (Plan limits are audited by organization_plan_update: the mixin's save_model.)
        fields = [
            name for name in form.changed_data if hasattr(obj, name) and name not in PLAN_LIMITS
        ]
        before = {}
        if change and fields:
            before = audit_snapshot(Organization.objects.get(pk=obj.pk), fields)
        super().save_model(request, obj, form, change)
        if change and (changes := audit_changes(before=before, after=audit_snapshot(obj, fields))):
            platform_audit_record(
                action=PlatformAction.ORGANIZATION_UPDATE, organization=obj, changes=changes
            )

    @admin.action(description=_("Suspend selected organizations"))
    def suspend(self, request, queryset):
        for org in queryset:
            organization_set_active(organization=org, is_active=False)
        self.message_user(request, _("Suspended %d organization(s).") % queryset.count())

    @admin.action(description=_("Reactivate selected organizations"))
    def reactivate(self, request, queryset):
        for org in queryset:
            organization_set_active(organization=org, is_active=True)
        self.message_user(
            request, _("Reactivated %d organization(s).") % queryset.count(), messages.SUCCESS
        )


@admin.register(PlatformAuditEvent)
class PlatformAuditEventAdmin(admin.ModelAdmin):
    """The platform audit, read only: nobody adds, edits or deletes a row here."""

    list_display = ["at", "action_display", "organization_slug", "actor_label", "ip"]
    list_filter = ["action", "actor_type"]
    search_fields = ["organization_slug", "organization_name", "actor_label", "request_id"]
    date_hierarchy = "at"
    readonly_fields = [field.name for field in PlatformAuditEvent._meta.fields]

    @admin.display(
        description=PlatformAuditEvent._meta.get_field("action").verbose_name, ordering="action"
    )
    def action_display(self, obj):
        """The action's name in the reader's language, with its code (what filters and the
        platform audit's consumers match on)."""
        if obj.action in PlatformAction.values:
            return f"{PlatformAction(obj.action).label} ({obj.action})"
        return obj.action

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
