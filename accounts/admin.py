from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import Membership, User
from .services import user_sessions_revoke


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("full_name",)}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def has_delete_permission(self, request, obj=None):
        # Users are referenced from every organization's schema (orders, stock movements):
        # deactivate them instead (is_active), which revokes their access at once.
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Deactivation ends every session: earlier tokens refused, open WebSockets closed.
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_sessions_revoke(user=obj)

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        # An operator set a new password (redirect = the form was accepted): every session
        # opened with the old one ends, as after a reset.
        if request.method == "POST" and response.status_code == 302:
            user_sessions_revoke(user=self.get_object(request, id))
        return response


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__email", "organization__name", "organization__slug"]

    # Read only: people join by invitation (DESIGN 3); roles change through the owner's API.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
