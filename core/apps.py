from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Platform plumbing")

    def ready(self):
        # OpenAPI scheme, cache clearing, per-organization CORS origins (signal receivers).
        from . import cors, schema_extensions, signals  # noqa: F401
