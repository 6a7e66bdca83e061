"""Per-request log context (request id, organization, user) in contextvars."""

import structlog


def bind_request_context(**values) -> None:
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def clear_request_context() -> None:
    structlog.contextvars.clear_contextvars()
