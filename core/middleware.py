"""Request id, structured access log and latency for every request; the request size limit."""

import re
import time
import uuid

import structlog
from django.conf import settings
from django.http import JsonResponse

from .exceptions import RequestTooLargeError, error_body
from .logging_context import bind_request_context, clear_request_context

logger = structlog.get_logger("commandcenter.request")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestContextMiddleware:
    """Accepts or makes an ``X-Request-ID``, echoes it, and logs one line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        clear_request_context()
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        bind_request_context(request_id=request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        user = getattr(request, "user", None)
        if getattr(user, "is_authenticated", False):
            bind_request_context(user=user.pk)
        logger.info(
            "request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response


def request_too_large_body(limit: int) -> dict:
    """The 413 envelope, shared by the Django middleware and the ASGI wrapper."""
    error = RequestTooLargeError(details={"max_bytes": limit})
    return error_body(error.code, error.message, error.details)


class RequestSizeLimitMiddleware:
    """413 for a declared body over ``MAX_REQUEST_BYTES``, before anything reads it.

    Placed ahead of the tenant middleware, so an unknown host is refused the same way. Under
    WSGI a body without ``Content-Length`` is never read by Django (it sees an empty body), so
    the declared length is all there is to check; under ASGI ``core.asgi_limits`` refuses
    before the server's adapter buffers the body at all.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.MAX_REQUEST_BYTES
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            too_large = int(declared) > limit
        except ValueError:
            too_large = False  # Django reads such a body as empty
        if too_large:
            return JsonResponse(request_too_large_body(limit), status=413)
        return self.get_response(request)
