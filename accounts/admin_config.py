"""The admin's app config, in a module of its own: Django imports it while the app registry is
still loading, before any model or form can be imported (``accounts.admin_site`` imports both).
"""

from django.contrib.admin.apps import AdminConfig


class PlatformAdminConfig(AdminConfig):
    """``django.contrib.admin`` whose default site (``admin.site``) is ``PlatformAdminSite``."""

    default_site = "accounts.admin_site.PlatformAdminSite"
