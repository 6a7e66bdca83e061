"""Production settings: secrets have no default, logs are JSON, cookies are secure."""

from .base import *  # noqa: F403
from .base import LOG_LEVEL, env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
SIMPLE_JWT["SIGNING_KEY"] = env("JWT_SIGNING_KEY", default=SECRET_KEY)  # noqa: F405
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING = build_logging(fmt=LOG_FORMAT, level=LOG_LEVEL)  # noqa: F405
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
