from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Platform plumbing"

    def ready(self):
        from . import schema_extensions  # noqa: F401 - registers the OpenAPI auth scheme
