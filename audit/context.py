"""Who is acting, from where: the request-scoped facts every audit row carries.

``AuditContextMiddleware`` keeps the current request in a contextvar for the length of the
request; ``audit_record`` reads the actor from it when the row is written, not when the
request comes in, because DRF authenticates inside the view (JWT or screen token) and sets
``request.user`` on the Django request only then. The client IP is ``core.client_ip`` (the one
helper that knows which proxies to trust); the request id is the one the log lines carry
(``core.logging_context``: a request's, or the request that queued a Celery job).

Outside a request (Celery jobs, management commands, WebSocket actions) there is no request:
the actor is the system unless the caller names one (the task services pass the user or screen
they act for; commands bind theirs with ``audit_actor_bind``).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import structlog

from core.client_ip import client_ip

from .choices import ActorType

_request: ContextVar = ContextVar("audit_request", default=None)
_actor: ContextVar = ContextVar("audit_actor", default=None)


@dataclass(frozen=True)
class Actor:
    """Who did it: a user (id, email), a screen (id, name) or the system (a job or command)."""

    type: str
    id: str = ""
    label: str = ""


def actor_system(label: str = "") -> Actor:
    return Actor(type=ActorType.SYSTEM, label=label)


def actor_for(*, user=None, screen=None) -> Actor | None:
    """The actor of a user or a screen (``tasks.events.ScreenActor``, a ``Screen``, or the
    ``ScreenPrincipal`` a screen token authenticates as); None when given neither."""
    if screen is None and user is not None:
        screen = getattr(user, "screen", None)  # displays.authentication.ScreenPrincipal
    if screen is not None:
        return Actor(type=ActorType.SCREEN, id=str(screen.id), label=screen.name)
    if user is not None and getattr(user, "is_authenticated", False):
        return Actor(type=ActorType.USER, id=str(user.pk), label=user.email)
    return None


class AuditContextMiddleware:
    """Keeps the request reachable by ``audit_record`` while the request is served."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


@contextmanager
def audit_actor_bind(actor: Actor) -> Iterator[None]:
    """Every audit row written inside the block names ``actor`` (commands, jobs)."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_request():
    return _request.get()


def current_actor() -> Actor:
    """The bound actor, else the request's authenticated user or screen, else the system."""
    bound = _actor.get()
    if bound is not None:
        return bound
    request = _request.get()
    if request is not None:
        actor = actor_for(user=getattr(request, "user", None))
        if actor is not None:
            return actor
    return actor_system()


def current_ip() -> str | None:
    request = _request.get()
    if request is None:
        return None
    ip = client_ip(request)
    return None if ip == "unknown" else ip


def current_request_id() -> str:
    request = _request.get()
    request_id = getattr(request, "request_id", None) if request is not None else None
    if request_id:
        return request_id
    return structlog.contextvars.get_contextvars().get("request_id") or ""
