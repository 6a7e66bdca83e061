"""drf-spectacular: describe the organization-bound JWT as a bearer scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class OrganizationJWTScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.OrganizationJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from /api/v1/auth/token/, valid only on the "
            "organization (host) that issued it.",
        }
