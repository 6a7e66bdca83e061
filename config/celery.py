"""The Celery app. Tasks sent inside a tenant carry its schema (tenant-schemas-celery) and run
inside that schema on the worker.

Worker and beat default to the production settings, like the web entry points: development
(`make run`, the tests) names its settings module explicitly."""

import os

from tenant_schemas_celery.app import CeleryApp

from core.logging import configure_celery_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = CeleryApp("commandcenter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Worker and beat log through Django's LOGGING; jobs carry the request id of their request.
configure_celery_logging()
