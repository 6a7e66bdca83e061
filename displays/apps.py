from django.apps import AppConfig


class DisplaysConfig(AppConfig):
    name = "displays"

    def ready(self):
        from . import schema  # noqa: F401  (registers the OpenAPI auth extension)
