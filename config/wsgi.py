"""WSGI entry point (gunicorn and other WSGI servers).

The settings default to production: without DJANGO_SETTINGS_MODULE the process refuses to start
unless it is given a secret key and allowed hosts.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = get_wsgi_application()

from core.gc_tuning import gc_tune_for_serving  # noqa: E402

gc_tune_for_serving()
