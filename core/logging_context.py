"""Per-request log context (request id, organization, user) in contextvars, and its journey
into the Celery jobs a request starts.

A job published while a context is bound (a request, or another job) carries its request id and
user in the ``cc_log_context`` message header; the worker binds them, with the job's
organization (the tenant-schemas-celery schema header), id and name, for the job's run: every
line the job writes, and Celery's own "succeeded"/"failed" line, carry them.
"""

import structlog

LOG_CONTEXT_HEADER = "cc_log_context"
# What travels from a request into its jobs: the organization travels already (schema header).
_PROPAGATED = ("request_id", "user")
# Context found when a job started (an eager job runs inside a request): put back afterwards.
_outer_contexts: dict[str, dict] = {}


def bind_request_context(**values) -> None:
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def clear_request_context() -> None:
    structlog.contextvars.clear_contextvars()


def _task_header(task, name: str):
    # A redis broker merges message headers into ``task.request`` (as tenant-schemas-celery
    # notes for its own header); other brokers keep them in ``task.request.headers``.
    headers = getattr(task.request, "headers", None) or {}
    if name in headers:
        return headers[name]
    return task.request.get(name)


def _on_publish(headers=None, **_kwargs) -> None:
    if headers is None:
        return
    context = structlog.contextvars.get_contextvars()
    values = {key: context[key] for key in _PROPAGATED if context.get(key) is not None}
    if values:
        headers.setdefault(LOG_CONTEXT_HEADER, values)


def _on_prerun(task_id=None, task=None, **_kwargs) -> None:
    _outer_contexts[task_id] = structlog.contextvars.get_contextvars()
    clear_request_context()
    carried = _task_header(task, LOG_CONTEXT_HEADER) or {}
    schema = _task_header(task, "_schema_name")
    bind_request_context(
        request_id=carried.get("request_id"),
        user=carried.get("user"),
        organization=schema if schema and schema != "public" else None,
        task_id=task_id,
        task_name=task.name,
    )


def _on_postrun(task_id=None, **_kwargs) -> None:
    outer = _outer_contexts.pop(task_id, {})
    clear_request_context()
    bind_request_context(**outer)


def connect_celery_log_context() -> None:
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_on_publish, weak=False, dispatch_uid="core.log_context.publish")
    task_prerun.connect(_on_prerun, weak=False, dispatch_uid="core.log_context.prerun")
    task_postrun.connect(_on_postrun, weak=False, dispatch_uid="core.log_context.postrun")
