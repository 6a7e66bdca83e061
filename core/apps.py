from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Platform plumbing")

    def ready(self):
        # OpenAPI scheme. The receivers of the apps' models (cache clearing, CORS per
        # organization) are connected by their own apps: core imports no domain app.
        from . import schema_extensions  # noqa: F401
