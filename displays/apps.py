from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DisplaysConfig(AppConfig):
    name = "displays"
    verbose_name = _("Display screens")

    def ready(self):
        from . import schema  # noqa: F401  (registers the OpenAPI auth extension)
