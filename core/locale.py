"""Which language a request is answered in (DESIGN 13).

In order: the request's ``Accept-Language`` when it names a language of ``settings.LANGUAGES``,
else the signed-in user's ``language``, else the organization's ``language``, else
``settings.LANGUAGE_CODE``. Error ``code``s never change with it; only messages do.

The steps happen where their facts become known, each one refining the language already active:

1. ``LanguageMiddleware`` (ahead of the size limit and the tenant middleware, so their own
   errors are translated) reads ``Accept-Language`` or falls back to ``LANGUAGE_CODE``.
2. ``TenantMiddleware`` calls ``organization_language_activate`` once the host is resolved (the
   suspended-organization 403 is already in the organization's language).
3. The user: Django's session user in ``LanguageMiddleware.process_view`` (admin, pages), and
   the API's JWT user in ``accounts.authentication`` through ``user_language_activate``: DRF
   authenticates inside the view, after every middleware, so only authentication knows the user
   in time for the view's own messages and errors.

A language from the header is never overridden by the later steps.
"""

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation.trans_real import parse_accept_lang_header

# Request attribute: the step that chose the active language ("header", "user", "organization"
# or "default"); a later step only overrides a weaker one.
_SOURCE = "_cc_language_source"
_STRENGTH = {"default": 0, "organization": 1, "user": 2, "header": 3}


def supported_language(code: str | None) -> str | None:
    """``code`` as one of ``settings.LANGUAGES`` (``zh-CN``, ``zh`` -> ``zh-hans``), or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code.strip().lower())
    except LookupError:
        return None


def header_language(request) -> str | None:
    """The first supported language the ``Accept-Language`` header names (by q), or None."""
    return accept_language(request.META.get("HTTP_ACCEPT_LANGUAGE", ""))


def accept_language(header: str) -> str | None:
    """The first supported language an ``Accept-Language`` value names (by q), or None (also
    for WebSocket handshakes, whose headers are not a request's META)."""
    for code, _quality in parse_accept_lang_header(header):
        if code == "*":
            continue
        language = supported_language(code)
        if language:
            return language
    return None


def organization_language(organization) -> str:
    """The organization's language (reports, the board, jobs): never the request's."""
    return supported_language(getattr(organization, "language", "")) or settings.LANGUAGE_CODE


def _activate(request, language: str | None, source: str) -> None:
    current = getattr(request, _SOURCE, "default")
    if not language or _STRENGTH[source] < _STRENGTH[current]:
        return
    translation.activate(language)
    request.LANGUAGE_CODE = language
    setattr(request, _SOURCE, source)


def organization_language_activate(request, organization) -> None:
    """Step 2: the organization's setting, unless the request or the user chose already."""
    language = supported_language(getattr(organization, "language", ""))
    _activate(request, language, "organization")


def user_language_activate(request, user) -> None:
    """Step 3: the user's own choice (``""`` means "the organization's"), unless the header
    named one. ``request`` may be DRF's ``Request``: the flag lives on the Django request."""
    request = getattr(request, "_request", request)
    language = supported_language(getattr(user, "language", ""))
    _activate(request, language, "user")


class LanguageMiddleware:
    """Replaces Django's ``LocaleMiddleware``: same ``Content-Language`` / ``Vary`` answer, but
    the fallback chain of DESIGN 13 (no cookie, no URL prefix, no session), and the language is
    reset after each request so nothing after it (a test, the next ASGI task) inherits it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = header_language(request)
        setattr(request, _SOURCE, "header" if language else "default")
        language = language or settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        try:
            response = self.get_response(request)
            patch_vary_headers(response, ("Accept-Language",))
            response.headers.setdefault("Content-Language", translation.get_language())
            return response
        finally:
            translation.deactivate()

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Django's session user (the admin, the accounts pages). Only looked at when a session
        # cookie came: an API request must not pay for a lazy user it does not use.
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            user = getattr(request, "user", None)
            if getattr(user, "is_authenticated", False):
                user_language_activate(request, user)
        return None
