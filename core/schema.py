"""drf-spectacular: every operation documents the error envelope for its error statuses, and the
published shapes are the ones the API sends (checked by scripts/fuzz_api.py with schemathesis).
"""

from django.core.exceptions import FieldDoesNotExist
from django.db import models
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
    "400": "Invalid input. Codes: VALIDATION_ERROR (details.fields names each field), "
    "MALFORMED_REQUEST (a body that is not JSON or nests deeper than 32 levels).",
    "401": "Missing, invalid, revoked or foreign-organization token. Codes: NOT_AUTHENTICATED, "
    "AUTHENTICATION_FAILED.",
    "403": "Codes: PERMISSION_DENIED (role), PLAN_LIMIT_REACHED, ORGANIZATION_SUSPENDED.",
    "404": "Not found in this organization (also a malformed id). Codes: NOT_FOUND or "
    "<RESOURCE>_NOT_FOUND, TENANT_NOT_FOUND (unknown host).",
    "409": "Conflict with the current state (INVALID_TRANSITION, INSUFFICIENT_STOCK...).",
    "429": "Rate limited; see Retry-After. Code: RATE_LIMITED.",
}
# Only operations that take a body can be refused for it.
_BODY_ERRORS = {
    "413": "The body is larger than MAX_REQUEST_BYTES. Code: REQUEST_TOO_LARGE.",
    "415": "The body is not application/json. Code: UNSUPPORTED_MEDIA_TYPE.",
}
# RFC 3339 "time" (what format: time means to validators) needs an offset; business hours
# ("05:00:00") have none: a pattern says what is really sent and accepted.
_LOCAL_TIME = {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$"}


def _may_be_null(field) -> bool:
    """A declared read-only field that can answer null although it does not say so:
    spectacular marks nullability only on fields it builds from the model itself.

    ``accepted_at`` of a pending task (a nullable column), ``user_email`` with
    ``source="user.email", default=None`` of a ledger row without a user (a nullable relation on
    the way, or the explicit ``default=None`` DRF answers when the path hits None).
    """
    if field.default is None:
        return True
    parent = getattr(field, "parent", None)
    model = getattr(getattr(parent, "Meta", None), "model", None)
    source = getattr(field, "source_attrs", None) or [getattr(field, "field_name", None)]
    if model is None or not all(source):
        return False
    for name in source:
        try:
            model_field = model._meta.get_field(name)
        except FieldDoesNotExist:  # a computed attribute, not a column
            return False
        if not isinstance(model_field, models.Field):
            return False
        if model_field.null:
            return True
        model = model_field.related_model
        if model is None:
            break
    return False


# core.api.TenantViewSetMixin.lookup_value_regex: the digits of a bigint primary key. From the
# URL regex spectacular derives a string with a pattern; generated clients then type every id
# as ``str``. It is an integer in every body, so it is one in the path too (the bounds are what
# the regex accepts: anything else never reaches a view and is a 404).
_BIGINT_ID_PATTERN = "^[0-9]{1,18}$"
_BIGINT_ID = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 10**18 - 1}


class AutoSchema(BaseAutoSchema):
    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            if parameter["schema"].get("pattern") == _BIGINT_ID_PATTERN:
                parameter["schema"] = dict(_BIGINT_ID)
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = dict(_ERRORS)
        if self.method in ("POST", "PUT", "PATCH"):
            errors.update(_BODY_ERRORS)
        for status, description in errors.items():
            if status == "401" and not self.view.get_authenticators():
                continue
            responses.setdefault(
                status,
                self._get_response_for_code(
                    OpenApiResponse(response=ErrorSerializer, description=description), status
                ),
            )
        return responses

    def _get_response_for_code(
        self, serializer, status_code, media_types=None, direction="response"
    ):
        # An error status declared with a description only (``409: OpenApiResponse(description=
        # "CATEGORY_IN_USE")``) still answers the envelope: document it with that body.
        if str(status_code)[0] in "45":
            if isinstance(serializer, OpenApiResponse) and serializer.response is None:
                serializer = OpenApiResponse(
                    response=ErrorSerializer,
                    description=serializer.description,
                    examples=serializer.examples,
                )
            elif serializer is None:
                serializer = ErrorSerializer
        return super()._get_response_for_code(serializer, status_code, media_types, direction)

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if isinstance(field, serializers.TimeField) and not isinstance(
            field, serializers.DateTimeField
        ):
            schema = {**_LOCAL_TIME, **self._get_serializer_field_meta(field, direction)}
            return schema
        return super()._map_serializer_field(field, direction, bypass_extensions)

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        # A title is the model's verbose_name, an admin label that follows the reader's
        # language: the schema names a field by its name, the same in every language.
        meta.pop("title", None)
        if field.read_only and "nullable" not in meta and _may_be_null(field):
            meta["nullable"] = True
        return meta
