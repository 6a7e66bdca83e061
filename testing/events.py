"""Count the events a block of test code publishes (after its commit), Zulip style.

Every event reaches the screens through ``events.services.events_publish`` (scheduled with
``transaction.on_commit``). ``capture_events`` records what passes through it, in order, and
lets the real publication run; in a test whose work rolls back with the test's transaction, the
on-commit callbacks scheduled inside the block run at its end, as a commit would run them.

    with assert_events(2, types=["task.created", "agent.low_stock"]) as events:
        task_make(user=..., items=...)
    assert events[0]["data"]["number"] == ...

Query counts: ``django_assert_num_queries`` / ``django_assert_max_num_queries`` (pytest-django).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.test import TestCase

import events.services as event_services


class EventLog(list):
    """The messages published (DESIGN.md section 6 wire format), each with its ``schema``."""

    @property
    def types(self) -> list[str]:
        return [message["type"] for message in self]

    @property
    def schemas(self) -> list[str]:
        return [message["schema"] for message in self]


@contextlib.contextmanager
def capture_events(*, run_on_commit: bool = True) -> Iterator[EventLog]:
    """Record every event published while the block runs (and at its end, see below).

    ``run_on_commit``: run the on-commit callbacks the block scheduled when it ends (needed
    where the test's transaction never commits; harmless where the block's work really commits,
    as it has nothing left then). Pass ``False`` inside an outer capture of on-commit callbacks
    that will run them itself."""
    log = EventLog()
    real = event_services.events_publish

    def recording(*, schema_name: str, messages: list[dict], **kwargs):
        log.extend({**message, "schema": schema_name} for message in messages)
        return real(schema_name=schema_name, messages=messages, **kwargs)

    event_services.events_publish = recording
    try:
        if run_on_commit:
            with TestCase.captureOnCommitCallbacks(execute=True):
                yield log
        else:
            yield log
    finally:
        event_services.events_publish = real


@contextlib.contextmanager
def assert_events(
    count: int, *, types: list[str] | None = None, run_on_commit: bool = True
) -> Iterator[EventLog]:
    """The block publishes exactly ``count`` events (of ``types``, in order, when given)."""
    with capture_events(run_on_commit=run_on_commit) as log:
        yield log
    assert len(log) == count, f"expected {count} events, published {len(log)}: {log.types}"
    if types is not None:
        assert log.types == list(types), log.types
