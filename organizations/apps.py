from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrganizationsConfig(AppConfig):
    name = "organizations"
    verbose_name = _("Organizations")

    def ready(self):
        # Local cache clearing and CORS per organization (signal receivers).
        from . import signals  # noqa: F401
