import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

application = get_wsgi_application()

from core.gc_tuning import gc_tune_for_serving  # noqa: E402

gc_tune_for_serving()
