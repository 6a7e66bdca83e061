"""Development settings: readable logs, DEBUG on unless told otherwise."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# Email: one .eml per message in .data/mail/ (subject and link logged); links to `make run`.
vars().update(env.email_url("EMAIL_URL", default="emlfile:///.data/mail"))
PUBLIC_URL_SCHEME, PUBLIC_URL_PORT = env("PUBLIC_URL_SCHEME", default="http"), env.int("PORT", 8000)
