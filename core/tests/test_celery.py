"""Celery wiring against a real worker process: a job enqueued inside an organization runs in
that organization's schema, and only sees that organization's rows."""

import uuid

import pytest

from config.celery import app
from core.tasks import schema_probe
from testing.factories import category_make

pytestmark = pytest.mark.slow


def test_job_runs_in_the_schema_it_was_sent_from(celery_worker_process, committed_org):
    other = committed_org
    from testing.orgs import make_org, public_schema

    second = make_org(f"celery-{uuid.uuid4().hex[:8]}")  # unique: --reuse-db keeps old rows
    try:
        with other.active():
            category_make(name="Only in the first org")
            first_result = schema_probe.delay("agents.AgentCategory")
        with second.active():
            category_make(name="Only in the second org")
            second_result = schema_probe.delay("agents.AgentCategory")
        with public_schema():
            public_result = schema_probe.delay("agents.AgentCategory")

        assert first_result.get(timeout=30) == {
            "schema": other.schema,
            "rows": ["Only in the first org"],
        }
        assert second_result.get(timeout=30) == {
            "schema": second.schema,
            "rows": ["Only in the second org"],
        }
        assert public_result.get(timeout=30) == {"schema": "public", "rows": []}
    finally:
        with public_schema():
            second.organization.delete(force_drop=True)


def test_app_is_json_only_with_time_limits_and_late_acks():
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.task_time_limit and conf.task_soft_time_limit < conf.task_time_limit
