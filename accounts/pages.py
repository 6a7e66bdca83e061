"""The small HTML pages the links in invitation and password reset emails open, served on the
organization's host (``/accounts/...``). They are plain Django forms (CSRF-protected, usable on
a phone, in the request's language) over the same services as the API.

The link's token is also the page's only credential, so every answer is ``no-store``
(``never_cache``) and sends no ``Referer`` onwards.
"""

from django import forms
from django.db import connection
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from core.client_ip import client_ip
from core.exceptions import ApplicationError

from . import services
from .choices import Role
from .selectors import email_mask, invitation_get_pending

_PASSWORD = {"strip": False, "max_length": 256, "widget": forms.PasswordInput}


def _new_password_field(label) -> forms.CharField:
    return forms.CharField(
        label=label,
        **{**_PASSWORD, "widget": forms.PasswordInput(attrs={"autocomplete": "new-password"})},
    )


class _PasswordPairForm(forms.Form):
    """A new password typed twice: ``pair`` names the two fields."""

    pair = ("password", "password2")

    def clean(self):
        data = super().clean()
        first, second = self.pair
        if data.get(first) and data.get(first) != data.get(second):
            self.add_error(second, _("The two passwords differ."))
        return data


class NewAccountForm(_PasswordPairForm):
    full_name = forms.CharField(label=_("Your name"), max_length=150)
    password = _new_password_field(_("Choose a password"))
    password2 = _new_password_field(_("Repeat the password"))


class ExistingAccountForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        **{**_PASSWORD, "widget": forms.PasswordInput(attrs={"autocomplete": "current-password"})},
    )


class NewPasswordForm(_PasswordPairForm):
    pair = ("new_password", "new_password2")
    new_password = _new_password_field(_("New password"))
    new_password2 = _new_password_field(_("Repeat the new password"))


def _page(request, template: str, context: dict, status: int = 200):
    context = {"organization": connection.tenant, **context}
    response = render(request, template, context, status=status)
    response["Referrer-Policy"] = "no-referrer"
    return response


def _show_error(form: forms.Form, exc: ApplicationError) -> None:
    """A service's error on the form: field messages on their fields, the rest on top."""
    fields = (exc.details or {}).get("fields") or {}
    placed = False
    for name, messages in fields.items():
        target = name if name in form.fields else ("password" if "password" in name else None)
        if target in form.fields:
            for message in messages:
                form.add_error(target, message)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def invitation_accept_page(request):
    source = request.POST if request.method == "POST" else request.GET
    token = source.get("token", "")
    mode = "existing" if source.get("mode") == "existing" else "new"
    invitation = invitation_get_pending(organization_id=connection.tenant.pk, token=token)
    if invitation is None:
        return _page(request, "accounts/link_invalid.html", {}, status=404)
    form_class = ExistingAccountForm if mode == "existing" else NewAccountForm
    form = form_class(request.POST if request.method == "POST" else None)
    status = 200
    notice = ""
    if request.method == "POST" and form.is_valid():
        try:
            if mode == "new":
                services.invitation_accept_new_account(
                    organization=connection.tenant,
                    token=token,
                    password=form.cleaned_data["password"],
                    full_name=form.cleaned_data["full_name"],
                )
            else:
                services.invitation_accept_existing_account(
                    organization=connection.tenant,
                    token=token,
                    password=form.cleaned_data["password"],
                    ip=client_ip(request),
                )
        except services.AccountExists as exc:
            # The address has an account: accepting needs its own password, not a new one.
            mode, form, notice, status = "existing", ExistingAccountForm(), exc.message, 409
        except ApplicationError as exc:
            _show_error(form, exc)
            status = exc.status_code
        else:
            return _page(
                request,
                "accounts/done.html",
                {
                    "title": _("Welcome"),
                    "message": _("You have joined %(name)s. Sign in with your email and password.")
                    % {"name": connection.tenant.name},
                },
            )
    elif request.method == "POST":
        status = 400
    return _page(
        request,
        "accounts/invitation_accept.html",
        {
            "form": form,
            "mode": mode,
            "token": token,
            "notice": notice,
            "email": email_mask(invitation.email),
            "role": Role(invitation.role).label,
        },
        status=status,
    )


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def password_reset_page(request):
    source = request.POST if request.method == "POST" else request.GET
    uid, token = source.get("uid", "")[:64], source.get("token", "")[:128]
    if services.password_reset_user(uid=uid, token=token) is None:
        return _page(request, "accounts/link_invalid.html", {}, status=404)
    form = NewPasswordForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.password_reset_confirm(
                uid=uid, token=token, new_password=form.cleaned_data["new_password"]
            )
        except ApplicationError as exc:
            _show_error(form, exc)
            status = exc.status_code
        else:
            return _page(
                request,
                "accounts/done.html",
                {
                    "title": _("Password changed"),
                    "message": _(
                        "Your new password is set, and you were signed out everywhere. Sign in "
                        "again with the new password."
                    ),
                },
            )
    elif request.method == "POST":
        status = 400
    return _page(
        request,
        "accounts/password_reset.html",
        {"form": form, "uid": uid, "token": token},
        status=status,
    )
