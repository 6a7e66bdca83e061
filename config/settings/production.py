"""Production settings: they fail closed.

No secret key or no allowed hosts in the environment: the process refuses to start (a default
secret would also sign every JWT). HTTPS is enforced (HSTS, SSL redirect, secure cookies) unless
the environment says otherwise, logs are JSON and static files are served by whitenoise with
hashed, compressed names.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DEV_SECRET_KEY, LOG_LEVEL, STORAGES, env


def _required(name: str, hint: str) -> str:
    value = env.str(name, default="").strip()
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set: production settings refuse to start without it. {hint}"
        )
    return value


DEBUG = False
SECRET_KEY = _required(
    "DJANGO_SECRET_KEY",
    "Set it to a long random string (50+ characters), for instance the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`.",
)
if SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is the development key that ships with the code: set a secret one."
    )
SIMPLE_JWT["SIGNING_KEY"] = env("JWT_SIGNING_KEY", default=SECRET_KEY)  # noqa: F405
ALLOWED_HOSTS = [
    host.strip()
    for host in _required(
        "DJANGO_ALLOWED_HOSTS",
        "Set it to the comma-separated host names this deployment answers "
        "(e.g. `.example.com` for the platform host and every organization's subdomain).",
    ).split(",")
    if host.strip()
]

LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING = build_logging(fmt=LOG_FORMAT, level=LOG_LEVEL)  # noqa: F405

# --- HTTPS -----------------------------------------------------------------------------------
# TLS ends at the load balancer, which says so in X-Forwarded-Proto (it must overwrite a value a
# client sent).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Probes and the metrics scraper talk plain HTTP to the process inside the private network: a
# redirect would make every health check "pass" on a 301 without reaching the view.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^ready/$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)

# --- Static files ----------------------------------------------------------------------------
# Collected at image build time (`collectstatic`): hashed names (cached for a year, immutable),
# gzip/brotli copies, served by whitenoise's middleware without touching the disk per request.
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=str(STATIC_ROOT))  # noqa: F405
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
WHITENOISE_AUTOREFRESH = False

# Demo data creates accounts with passwords printed in the README: never here.
DEMO_SEED_ALLOWED = False
