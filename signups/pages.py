"""The page the confirmation link opens, on the platform host (``/signup/confirm/``).

GET shows a button, POST confirms: mail scanners that prefetch links must not confirm for the
reader. Like the accounts pages: CSRF-protected, ``no-store``, no ``Referer`` onwards.
"""

from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from . import services
from .selectors import signup_get_by_token


def _page(request, template: str, context: dict, status: int = 200):
    response = render(request, template, context, status=status)
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def signup_confirm_page(request):
    source = request.POST if request.method == "POST" else request.GET
    token = source.get("token", "")
    application = signup_get_by_token(token=token)
    if application is None:
        return _page(request, "signups/link_invalid.html", {}, status=404)
    if request.method == "POST":
        try:
            application = services.signup_confirm(token=token)
        except services.SignupLinkInvalid:
            return _page(request, "signups/link_invalid.html", {}, status=404)
        return _page(
            request,
            "signups/done.html",
            {
                "title": _("Email confirmed"),
                "message": _(
                    "Thank you. Your application for %(name)s now waits for a platform "
                    "operator; you will get an email with the next step."
                )
                % {"name": application.organization_name},
            },
        )
    return _page(request, "signups/confirm.html", {"application": application, "token": token})
