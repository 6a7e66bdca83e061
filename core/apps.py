from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Platform plumbing"

    def ready(self):
        # OpenAPI scheme, cache clearing, per-organization CORS origins (signal receivers).
        from . import cors, schema_extensions, signals  # noqa: F401
