"""drf-spectacular: every operation documents the error envelope for its error statuses."""

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="ErrorEnvelope",
    fields={
        "error": inline_serializer(
            name="ErrorBody",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "details": serializers.DictField(),
            },
        )
    },
)

_ERRORS = {
    "400": "Invalid input (VALIDATION_ERROR names the fields).",
    "401": "Missing, invalid, revoked or foreign-organization token.",
    "403": "Role not allowed, plan limit, or organization suspended.",
    "404": "Not found in this organization.",
    "409": "Conflict with the current state (INVALID_TRANSITION, INSUFFICIENT_STOCK...).",
    "429": "Rate limited; see Retry-After.",
}


class AutoSchema(BaseAutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status, description in _ERRORS.items():
            if status == "401" and not self.view.get_authenticators():
                continue
            responses.setdefault(
                status,
                self._get_response_for_code(
                    OpenApiResponse(response=ErrorSerializer, description=description), status
                ),
            )
        return responses
