"""One error envelope for every error: ``{"error": {"code", "message", "details"}}``.

Services raise ``ApplicationError`` (or a subclass) with a stable code; the DRF exception handler
and the Django error views below render every failure the same way.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A business-rule failure with a stable machine code and an HTTP status."""

    status_code = 400
    code = "BAD_REQUEST"
    default_message = _("The request could not be processed.")

    def __init__(self, message=None, *, code=None, status=None, details=None):
        self.message = str(message or self.default_message)
        if code:
            self.code = code
        if status:
            self.status_code = status
        self.details = details or {}
        super().__init__(self.message)


class ConflictError(ApplicationError):
    status_code = 409
    code = "CONFLICT"


class NotFoundError(ApplicationError):
    status_code = 404
    code = "NOT_FOUND"
    default_message = _("Not found.")


class PlanLimitError(ApplicationError):
    status_code = 403
    code = "PLAN_LIMIT_REACHED"


class MalformedRequestError(ApplicationError):
    """A body that cannot be decoded (not JSON, too deeply nested): the same code as DRF's."""

    code = "MALFORMED_REQUEST"
    default_message = _("The request body could not be parsed.")


class RequestTooLargeError(ApplicationError):
    status_code = 413
    code = "REQUEST_TOO_LARGE"
    default_message = _("The request body is larger than this server accepts.")


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": str(message), "details": details or {}}}


def error_response(*, status: int, code: str, message, details=None, headers=None) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


_DRF_CODES = {
    drf.ValidationError: "VALIDATION_ERROR",
    drf.ParseError: "MALFORMED_REQUEST",
    drf.NotAuthenticated: "NOT_AUTHENTICATED",
    drf.AuthenticationFailed: "AUTHENTICATION_FAILED",
    drf.PermissionDenied: "PERMISSION_DENIED",
    drf.NotFound: "NOT_FOUND",
    drf.MethodNotAllowed: "METHOD_NOT_ALLOWED",
    drf.NotAcceptable: "NOT_ACCEPTABLE",
    drf.UnsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
    drf.Throttled: "RATE_LIMITED",
}


def _code_for(exc: drf.APIException) -> str:
    explicit = getattr(exc, "error_code", None)
    if explicit:
        return explicit
    for klass, code in _DRF_CODES.items():
        if isinstance(exc, klass):
            return code
    return "ERROR"


def exception_handler(exc, context):
    """DRF hook: every exception a view raises becomes the envelope."""
    # Imported here: rest_framework.views resolves the authentication and parser classes when
    # it is loaded, and those import this module (a cycle for whichever is imported first).
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, ApplicationError):
        response = Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
        if getattr(exc, "retry_after", None):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        exc = drf.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled API error", exc_info=exc)
        return Response(
            error_body("INTERNAL_ERROR", _("An unexpected error occurred. It has been logged.")),
            status=500,
        )
    code = _code_for(exc)
    if isinstance(exc, drf.ValidationError):
        message = _("Some fields are invalid.")
        details = (
            {"fields": response.data}
            if isinstance(response.data, dict)
            else {"non_field_errors": response.data}
        )
    else:
        message = (
            response.data.get("detail", str(exc)) if isinstance(response.data, dict) else str(exc)
        )
        details = {}
        if isinstance(response.data, dict):
            details = {k: v for k, v in response.data.items() if k not in ("detail",)}
            if "code" in details and details["code"] == getattr(exc, "default_code", None):
                details.pop("code")
        if isinstance(exc, drf.Throttled) and exc.wait is not None:
            details["retry_after_seconds"] = int(exc.wait) + 1
    response.data = error_body(code, message, details)
    return response


# --- Django-level views (outside DRF: unknown URL, crash) ------------------------------------


def handler404(request, exception=None):
    return error_response(status=404, code="NOT_FOUND", message=_("Not found."))


def handler500(request):
    return error_response(
        status=500,
        code="INTERNAL_ERROR",
        message=_("An unexpected error occurred. It has been logged."),
    )


def handler403(request, exception=None):
    return error_response(status=403, code="PERMISSION_DENIED", message=_("Forbidden."))


def handler400(request, exception=None):
    return error_response(status=400, code="BAD_REQUEST", message=_("Bad request."))
