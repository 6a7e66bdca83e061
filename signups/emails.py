"""The emails of a signup (confirmation link, rejection), in the applicant's language.

Rendered from ``templates/emails/signup_<name>_{subject.txt,body.txt,body.html}`` like the
accounts emails (``accounts.emails``); links point at the platform host (``PUBLIC_DOMAIN``).
"""

from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from .models import SignupApplication


def platform_base_url() -> str:
    """``https://example.com``: the platform host, where signup and its pages live."""
    scheme = settings.PUBLIC_URL_SCHEME
    port = settings.PUBLIC_URL_PORT
    default_port = {"http": 80, "https": 443}.get(scheme)
    suffix = f":{port}" if port and port != default_port else ""
    return f"{scheme}://{settings.PUBLIC_DOMAIN}{suffix}"


def signup_confirm_url(token: str) -> str:
    return f"{platform_base_url()}/signup/confirm/?{urlencode({'token': token})}"


def _message(*, name: str, application: SignupApplication, context: dict) -> EmailMultiAlternatives:
    language = application.language
    with translation.override(language):
        context = {
            **context,
            "language": language,
            "organization_name": application.organization_name,
            "slug": application.slug,
        }
        subject = render_to_string(f"emails/signup_{name}_subject.txt", context)
        text = render_to_string(f"emails/signup_{name}_body.txt", context)
        html = render_to_string(f"emails/signup_{name}_body.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),  # a header holds no line break
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[application.contact_email],
    )
    message.attach_alternative(html, "text/html")
    message.extra_headers["Content-Language"] = language
    return message


def signup_confirm_message(*, application: SignupApplication, token: str):
    return _message(
        name="confirm",
        application=application,
        context={
            "url": signup_confirm_url(token),
            "hours": settings.SIGNUP_CONFIRM_TTL_HOURS,
        },
    )


def signup_rejected_message(*, application: SignupApplication):
    return _message(
        name="rejected", application=application, context={"note": application.decision_note}
    )
