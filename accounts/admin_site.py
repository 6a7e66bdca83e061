"""The operators' admin site: Django's, with the login lockout and the list of lockouts.

The admin login counts against the same counters as the API login (``accounts.lockout``: per
email and per client IP), so alternating between the two gives an attacker no extra guesses.
A locked or unavailable login answers 429 / 503 with ``Retry-After`` and the form's error.
"""

from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from audit.choices import PlatformAction
from audit.services import platform_audit_record
from core.client_ip import client_ip

from . import lockout


class LockoutAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login form, counted by the lockout before the password is checked."""

    def clean(self):
        email = lockout.normalize_email(self.cleaned_data.get("username") or "")
        if not email or self.cleaned_data.get("password") is None:
            return super().clean()
        try:
            attempt = lockout.login_attempt_begin(email=email, ip=client_ip(self.request))
        except lockout.LoginLocked as exc:
            self.request.login_retry_after = (429, exc.retry_after)
            raise ValidationError(
                gettext("Too many failed logins. Try again in %(minutes)d minutes.")
                % {"minutes": max(1, (exc.retry_after + 59) // 60)},
                code="login_locked",
            ) from exc
        except lockout.AuthUnavailable as exc:
            self.request.login_retry_after = (503, exc.retry_after)
            raise ValidationError(exc.message, code="auth_unavailable") from exc
        cleaned = super().clean()  # raises on a wrong password: the attempt stays counted
        lockout.login_attempt_succeeded(attempt)
        return cleaned


class PlatformAdminSite(admin.AdminSite):
    login_form = LockoutAdminAuthenticationForm

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        refused = getattr(request, "login_retry_after", None)
        if refused is not None:
            response.status_code, response["Retry-After"] = refused[0], str(refused[1])
        return response

    def get_urls(self):
        return [
            path("login-lockouts/", self.admin_view(self.lockouts_view), name="login_lockouts"),
            path(
                "login-lockouts/unlock/",
                self.admin_view(require_POST(self.lockout_unlock_view)),
                name="login_lockout_unlock",
            ),
            *super().get_urls(),
        ]

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label is None:
            url = reverse("admin:login_lockouts", current_app=self.name)
            apps.append(
                {
                    "name": _("Security"),
                    "app_label": "security",
                    "app_url": url,
                    "has_module_perms": True,
                    "models": [
                        {
                            "name": _("Login lockouts"),
                            "object_name": "LoginLockout",
                            "admin_url": url,
                            "view_only": True,
                            "perms": {"view": True},
                        }
                    ],
                }
            )
        return apps

    def lockouts_view(self, request):
        """Every login counter in Redis (email and IP), with its count and time left."""
        try:
            counters = lockout.lockout_list()
            unavailable = None
        except lockout.AuthUnavailable as exc:
            counters, unavailable = [], exc.message
        context = {
            **self.each_context(request),
            "title": _("Login lockouts"),
            "counters": counters,
            "unavailable": unavailable,
        }
        return TemplateResponse(request, "admin/login_lockouts.html", context)

    def lockout_unlock_view(self, request):
        key = request.POST.get("key", "")
        try:
            removed = lockout.lockout_unlock(key=key)
        except lockout.AuthUnavailable as exc:
            messages.error(request, exc.message)
        else:
            if removed:
                platform_audit_record(
                    action=PlatformAction.LOCKOUT_UNLOCK, changes={"lockout": [key, None]}
                )
                messages.success(request, gettext("Unlocked %(key)s.") % {"key": key})
            else:
                messages.warning(request, gettext("No such lockout."))
        return HttpResponseRedirect(reverse("admin:login_lockouts", current_app=self.name))
