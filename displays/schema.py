"""OpenAPI description of the screen token (drf-spectacular extension, loaded in apps.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ScreenTokenScheme(OpenApiAuthenticationExtension):
    target_class = "displays.authentication.ScreenTokenAuthentication"
    name = "screenToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Screen <token>`: a display screen's token (shown once on create).",
        }
