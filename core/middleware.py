"""Request id, structured access log and latency for every request."""

import re
import time
import uuid

import structlog

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
