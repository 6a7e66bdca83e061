"""The emails accounts sends (invitation, password reset): links, language, rendering.

Each message is rendered in its reader's language: the account's own language when the
address has an account that chose one, else the organization's language (DESIGN 13).
Subject, text and HTML come from ``templates/emails/<name>_{subject.txt,body.txt,body.html}``.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from .choices import Role

DEFAULT_LANGUAGE = "zh-hans"


def organization_base_url(organization) -> str:
    """``https://acme.example.com`` from the organization's primary domain and the settings."""
    domains = list(organization.domains.all())
    domain = next((d for d in domains if d.is_primary), domains[0] if domains else None)
    host = domain.domain if domain else f"{organization.slug}.{settings.TENANT_DOMAIN_SUFFIX}"
    scheme = settings.PUBLIC_URL_SCHEME
    port = settings.PUBLIC_URL_PORT
    default_port = {"http": 80, "https": 443}.get(scheme)
    suffix = f":{port}" if port and port != default_port else ""
    return f"{scheme}://{host}{suffix}"


def invitation_accept_url(*, organization, token: str) -> str:
    query = urlencode({"token": token})
    return f"{organization_base_url(organization)}/accounts/invitations/accept/?{query}"


def password_reset_url(*, organization, uid: str, token: str) -> str:
    query = urlencode({"uid": uid, "token": token})
    return f"{organization_base_url(organization)}/accounts/password/reset/?{query}"


def language_for(*, organization, user=None) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    for candidate in (
        getattr(user, "language", ""),
        getattr(organization, "language", ""),
        DEFAULT_LANGUAGE,
    ):
        if candidate and candidate.lower() in codes:
            return candidate.lower()
    return settings.LANGUAGE_CODE


def _message(*, name: str, to: str, language: str, context: dict) -> EmailMultiAlternatives:
    with translation.override(language):
        context = {**context, "language": language}
        subject = render_to_string(f"emails/{name}_subject.txt", context)
        text = render_to_string(f"emails/{name}_body.txt", context)
        html = render_to_string(f"emails/{name}_body.html", context)
    message = EmailMultiAlternatives(
        # A header cannot hold a line break: the subject template's own newlines go.
        subject=" ".join(subject.split()),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(html, "text/html")
    message.extra_headers["Content-Language"] = language
    return message


def invitation_message(*, invitation, token: str, user=None) -> EmailMultiAlternatives:
    organization = invitation.organization
    language = language_for(organization=organization, user=user)
    with translation.override(language):
        role = str(Role(invitation.role).label)
    return _message(
        name="invitation",
        to=invitation.email,
        language=language,
        context={
            "organization_name": organization.name,
            "role": role,
            "url": invitation_accept_url(organization=organization, token=token),
            "expires_at": invitation.expires_at,
            "timezone": organization.timezone,
        },
    )


def password_reset_message(*, user, organization, uid: str, token: str) -> EmailMultiAlternatives:
    return _message(
        name="password_reset",
        to=user.email,
        language=language_for(organization=organization, user=user),
        context={
            "organization_name": organization.name,
            "url": password_reset_url(organization=organization, uid=uid, token=token),
            "minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
        },
    )
