"""The Celery app. Tasks sent inside a tenant carry its schema (tenant-schemas-celery) and run
inside that schema on the worker."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = CeleryApp("commandcenter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
