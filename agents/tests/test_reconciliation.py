"""Stock reconciliation: the service, the endpoint, and the beat job on a real Celery worker."""

import time

import pytest
from django.db.models import F
from django.utils import timezone
from django_tenants.utils import tenant_context

from agents.models import Agent, StockReconciliation
from agents.services import stock_reconcile
from agents.tasks import reconcile_stock_dispatch
from config.celery import app
from organizations.selectors import organization_list_active
from testing.factories import agent_make, catalog_via_services

URL = "/api/v1/agents/reconciliation/"


def test_service_finds_no_drift_on_a_clean_ledger(acme, acme_catalog):
    result = stock_reconcile()
    assert result.agents_checked == 3
    assert result.drift == []
    assert result.has_drift is False


def test_service_reports_and_logs_drift(acme, acme_catalog, caplog):
    agent = acme_catalog.agents[1]
    # A write that bypassed agents.stock (no movement): exactly what reconciliation is for.
    Agent.objects.filter(pk=agent.pk).update(stock=F("stock") - 3)
    agent_make(name="Unlimited", category=agent.category, price=1)  # not checked
    with caplog.at_level("WARNING"):
        result = stock_reconcile()
    assert result.agents_checked == 3
    assert result.drift == [
        {"agent_id": agent.pk, "name": agent.name, "stock": 7, "ledger": 10, "difference": -3}
    ]
    drift_logs = [r for r in caplog.records if "stock_ledger_drift" in str(r.msg)]
    assert len(drift_logs) == 1
    assert drift_logs[0].msg["agent_id"] == agent.pk
    assert drift_logs[0].msg["schema"] == acme.schema


def test_endpoint_roles(acme):
    assert acme.client().get(URL).status_code == 401
    response = acme.client("staff").get(URL)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"


def test_endpoint_before_any_run(acme):
    StockReconciliation.objects.all().delete()  # rolled back with the test
    body = acme.client("manager").get(URL).json()
    assert body["checked_at"] is None and body["drift"] == []


def test_endpoint_returns_the_last_result_of_this_organization(acme, globex, acme_catalog):
    Agent.objects.filter(pk=acme_catalog.agents[0].pk).update(stock=99)
    stock_reconcile()
    with globex.active():
        StockReconciliation.objects.create(agents_checked=42)  # globex's own result, newer
    body = acme.client("owner").get(URL).json()
    assert body["agents_checked"] == 3
    assert body["has_drift"] is True
    assert body["drift"][0]["agent_id"] == acme_catalog.agents[0].pk
    assert body["checked_at"]
    assert globex.client("manager").get(URL).json()["agents_checked"] == 42


def test_endpoint_is_not_an_agent_id(acme):
    # The route must not fall through to the agent detail (which would 404).
    assert acme.client("manager").get(URL).status_code == 200


@pytest.mark.slow
def test_dispatcher_runs_one_job_per_organization_on_a_real_worker(
    celery_worker_process, committed_org
):
    with committed_org.active():
        agent = catalog_via_services(agents=2, stock=5).agents[0]
        Agent.objects.filter(pk=agent.pk).update(stock=4)  # a drift the job must find

    started = timezone.now()
    organizations = list(organization_list_active())
    # The beat entry point, sent from the public schema like beat does, run by the worker.
    sent = reconcile_stock_dispatch.delay().get(timeout=30)
    assert sent == len(organizations)

    # Wait for every organization's job (the shared ones too, so none runs during a later
    # test), then remove the committed results the worker wrote into the shared organizations.
    pending = set(organizations)
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        for organization in list(pending):
            with tenant_context(organization):
                if StockReconciliation.objects.filter(checked_at__gte=started).exists():
                    pending.discard(organization)
        time.sleep(0.1)
    assert not pending, celery_worker_process.log_path.read_text()[-3000:]
    for organization in organizations:
        if organization.pk != committed_org.organization.pk:
            with tenant_context(organization):
                StockReconciliation.objects.filter(checked_at__gte=started).delete()

    with committed_org.active():
        result = StockReconciliation.objects.get()
    assert result.agents_checked == 2
    assert [d["agent_id"] for d in result.drift] == [agent.pk]
    body = committed_org.client("manager").get(URL).json()
    assert body["has_drift"] is True and body["drift"][0]["difference"] == -1
    assert app.conf.task_acks_late  # a killed worker re-runs the (idempotent) job
