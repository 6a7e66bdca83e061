from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership

from .models import Domain, Organization
from .services import organization_set_active


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "schema_name",
        "is_active",
        "language",
        "timezone",
        "created_at",
    ]
    list_filter = ["is_active", "timezone"]
    search_fields = ["name", "slug", "schema_name", "domains__domain"]
    readonly_fields = ["schema_name", "created_at", "updated_at"]
    inlines = [DomainInline, MembershipInline]
    actions = ["suspend", "reactivate"]

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(schema_name="public")

    def has_add_permission(self, request):
        # Provisioning clones a schema and creates an owner: use `manage.py create_organization`.
        return False

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
