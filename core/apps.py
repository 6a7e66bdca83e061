from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Platform plumbing"

    def ready(self):
        from . import schema_extensions, signals  # noqa: F401 - OpenAPI scheme, cache clearing
