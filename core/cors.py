"""CORS per organization: an origin is allowed only on the hosts of the organizations that list it.

django-cors-headers only knows process-wide lists; its ``check_request_enabled`` signal is the
documented hook for a per-request decision. ``CORS_URLS_REGEX`` matches nothing (see settings),
so the signal alone turns CORS on, for API paths and an ``Origin`` in the organization's
``cors_allowed_origins``. A request from any other origin gets no CORS header at all, and its
preflight falls through to the view like any ``OPTIONS`` request. The receiver is
``organizations.signals.organization_allows_origin`` (it resolves the organization); this
module only knows what an origin is, and core imports no domain app.
"""

from urllib.parse import urlsplit

from django.utils.translation import gettext as _

# Documentation and schema pages are read by integrators' tools in a browser as well.
CORS_PATH_PREFIX = "/api/"
MAX_ORIGINS = 50
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_origin(value: str) -> str | None:
    """The origin as a browser sends it (``https://host[:port]``), or None if it is not one."""
    if not isinstance(value, str) or "*" in value or value != value.strip():
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return None
    if value.endswith(("?", "#")):
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def cors_origins_problems(origins) -> list[str]:
    """Why a ``cors_allowed_origins`` value is refused (empty when it is valid).

    Origins are compared with the browser's ``Origin`` header byte for byte, so a value must
    already be in that form: a near miss (upper case, default port, trailing slash) would
    silently never match, hence refused with the form to use instead.
    """
    if not isinstance(origins, list):
        return [_("Use a list of origins such as https://shop.example.com.")]
    if len(origins) > MAX_ORIGINS:
        return [_("At most %(count)d origins.") % {"count": MAX_ORIGINS}]
    problems = []
    for origin in origins:
        canonical = canonical_origin(origin)
        if canonical is None:
            problems.append(
                _(
                    "%(origin)s is not an origin: use http:// or https://, a host and an "
                    "optional port, with no path and no wildcard."
                )
                % {"origin": origin}
            )
        elif canonical != origin:
            problems.append(
                _("%(origin)s: write it as a browser sends it, %(canonical)s.")
                % {"origin": origin, "canonical": canonical}
            )
    if not problems and len(set(origins)) != len(origins):
        problems.append(_("Each origin may appear only once."))
    return problems
