"""``MAX_REQUEST_BYTES`` for the ASGI server, enforced before any body is buffered.

Both HTTP paths of ``config.asgi`` read the whole body before Django's middleware runs:
uvicorn's WSGI adapter into a ``BytesIO``, Django's ``ASGIHandler.read_body`` into a spooled
temporary file. So the limit is checked here, around them: a declared ``Content-Length`` over
the limit is answered 413 without reading a byte of the body, and a body without one (chunked)
is counted as it arrives and refused as soon as it passes the limit. At most ``limit`` bytes are
ever held; what was read is replayed to the wrapped application unchanged, with its length.
"""

import json

from django.conf import settings

from .middleware import request_too_large_body


class RequestSizeLimit:
    """ASGI middleware for ``http`` scopes; every other scope type passes through."""

    def __init__(self, app, max_bytes: int | None = None):
        self.app = app
        self.max_bytes = max_bytes

    @property
    def limit(self) -> int:
        return self.max_bytes if self.max_bytes is not None else settings.MAX_REQUEST_BYTES

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            return await _refuse(send, limit)
        if declared is not None:
            # Within the limit: the server never delivers more than was declared.
            return await self.app(scope, receive, send)
        # No declared length (chunked, or none at all): read the body up to the limit, then
        # hand it on. A request without a body is one empty message.
        messages, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away while sending: nothing to answer.
                return None
            size += len(message.get("body", b""))
            if size > limit:
                return await _refuse(send, limit)
            messages.append(message)
            if not message.get("more_body", False):
                break

        async def replay():
            if messages:
                return messages.pop(0)
            return await receive()

        if size:
            # Django under WSGI reads no body without a Content-Length: now that the length is
            # known, declare it, so a chunked body reaches the view instead of vanishing.
            headers = [
                (k, v) for k, v in scope.get("headers", ()) if k.lower() != b"content-length"
            ]
            scope = {**scope, "headers": [*headers, (b"content-length", str(size).encode())]}
        return await self.app(scope, replay, send)


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


def _content_length(scope) -> int | None:
    value = _header(scope, b"content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def _refuse(send, limit: int) -> None:
    body = json.dumps(request_too_large_body(limit)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is still on the connection: close it rather than read it.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
