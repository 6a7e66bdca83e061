"""The schema pool's refill is queued from the request that created an organization: a broker
that cannot be reached costs a warning, quickly, never the request (core.jobs)."""

import logging
import time

from organizations.schema_pool import schema_pool_refill_soon
from reports.tests.test_broker_down import UNREACHABLE, broker_at


def test_a_refill_that_cannot_be_queued_does_not_fail_the_request(
    db, settings, django_capture_on_commit_callbacks, caplog
):
    settings.TENANT_SCHEMA_POOL_SIZE = 2
    started = time.monotonic()
    with (
        caplog.at_level(logging.WARNING, logger="organizations.schema_pool"),
        broker_at(UNREACHABLE),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        schema_pool_refill_soon()
    assert len(callbacks) == 1
    assert time.monotonic() - started < 5
    assert any("refill not queued" in r.getMessage() for r in caplog.records)
