"""The operators' admin (DESIGN 12): add an organization through the service, plan limits
through a validating, audited service, usage columns read once per page, read-only panels,
suspend / deletion actions, the fleet page, and no Django delete."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import Invitation, User
from agents.models import StockReconciliation
from core.exceptions import ApplicationError
from displays.models import Screen
from organizations.models import Organization, PlatformAuditEvent
from organizations.services import organization_plan_update
from reports.models import ReportJob
from tasks.choices import TaskStatus
from testing.factories import TaskSpec, tasks_bulk

CHANGELIST = "/admin/organizations/organization/"


@pytest.fixture
def operator(db):
    return User.objects.create_superuser(email="ops-fleet@platform.test", password="pw-ops-123!")


@pytest.fixture
def ops(operator):
    client = Client(HTTP_HOST=settings.PUBLIC_DOMAIN)
    client.force_login(operator)
    return client


def _change_url(org) -> str:
    return f"{CHANGELIST}{org.pk}/change/"


def test_add_organization_goes_through_the_service(ops):
    slug = f"added-{uuid.uuid4().hex[:6]}"
    form = {
        "name": "Added Co",
        "slug": slug,
        "domain": "",
        "owner_email": f"owner-{slug}@example.test",
        "language": "en",
        "timezone": "Asia/Shanghai",
        "max_agents": "40",
        "max_screens": "3",
        "requests_per_minute": "600",
        "audit_retention_days": "90",
        "event_retention_days": "14",
    }
    page = ops.get(f"{CHANGELIST}add/")
    assert page.status_code == 200 and b'name="owner_email"' in page.content
    response = ops.post(f"{CHANGELIST}add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    org = Organization.objects.get(slug=slug)
    assert response["Location"] == _change_url(org)
    assert (org.max_agents, org.max_screens, org.requests_per_minute) == (40, 3, 600)
    assert (org.audit_retention_days, org.event_retention_days) == (90, 14)
    assert org.domains.get().domain == f"{slug}.{settings.TENANT_DOMAIN_SUFFIX}"
    invitation = Invitation.objects.get(organization=org)
    assert invitation.role == "owner" and invitation.email == form["owner_email"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [org.schema_name])
        assert cursor.fetchone()
    event = PlatformAuditEvent.objects.get(organization_ref=org.pk, action="organization.create")
    assert event.actor_label == "ops-fleet@platform.test"
    # The same slug again: a form error, nothing created.
    again = ops.post(f"{CHANGELIST}add/", form)
    assert again.status_code == 200
    assert "already exists" in again.content.decode()
    assert Organization.objects.filter(slug=slug).count() == 1


def test_plan_limits_service_validates_and_audits(acme):
    with pytest.raises(ApplicationError) as bad:
        organization_plan_update(organization=acme.organization, requests_per_minute=0)
    assert bad.value.code == "VALIDATION_ERROR"
    with pytest.raises(ApplicationError):
        organization_plan_update(organization=acme.organization, timezone="UTC")
    organization_plan_update(organization=acme.organization, max_screens=7, max_agents=500)
    acme.organization.refresh_from_db()
    assert acme.organization.max_screens == 7
    event = PlatformAuditEvent.objects.filter(
        organization_ref=acme.organization.pk, action="organization.update"
    ).latest("at")
    assert event.changes == {"max_screens": [20, 7]}  # max_agents did not change


def test_plan_limits_editable_in_the_list(ops, acme, globex):
    page = ops.get(CHANGELIST)
    assert page.status_code == 200
    formset = page.context["cl"].formset
    data = {
        "form-TOTAL_FORMS": str(len(formset.forms)),
        "form-INITIAL_FORMS": str(len(formset.forms)),
        "_save": "Save",
    }
    for i, form in enumerate(formset.forms):
        data[f"form-{i}-id"] = str(form.instance.pk)
        for name in ("max_agents", "max_screens", "requests_per_minute"):
            data[f"form-{i}-{name}"] = str(getattr(form.instance, name))
        for name in ("audit_retention_days", "event_retention_days"):
            data[f"form-{i}-{name}"] = str(getattr(form.instance, name))
        if form.instance.pk == acme.organization.pk:
            data[f"form-{i}-requests_per_minute"] = "1234"
    response = ops.post(CHANGELIST, data)
    assert response.status_code == 302
    acme.organization.refresh_from_db()
    globex.organization.refresh_from_db()
    assert acme.organization.requests_per_minute == 1234
    assert globex.organization.requests_per_minute == 3000
    events = PlatformAuditEvent.objects.filter(action="organization.update")
    assert [e.changes for e in events.filter(organization_ref=acme.organization.pk)] == [
        {"requests_per_minute": [3000, 1234]}
    ]
    assert not events.filter(organization_ref=globex.organization.pk).exists()


def test_usage_columns_in_one_query_per_page(ops, acme, globex, django_assert_max_num_queries):
    with acme.active():
        tasks_bulk(acme.organization, [_pending_now() for _ in range(3)])
        Screen.objects.create(name="Pass", token_hash="a" * 64, last_seen_at=timezone.now())
        Screen.objects.create(
            name="Old", token_hash="b" * 64, last_seen_at=timezone.now() - timedelta(hours=1)
        )
    connection.set_schema_to_public()
    with django_assert_max_num_queries(20):
        page = ops.get(CHANGELIST)
    assert page.status_code == 200
    rows = {org.pk: org for org in page.context["cl"].result_list}
    assert rows[acme.organization.pk].usage.tasks_today == 3
    assert rows[acme.organization.pk].usage.screens_online == 1
    assert rows[globex.organization.pk].usage.tasks_today == 0


def _pending_now() -> TaskSpec:
    """A pending task created now (today's business day, the last hour)."""
    return TaskSpec(created_at=timezone.now(), status=TaskStatus.PENDING, items=[])


def test_panels_show_failures_drift_and_screens(ops, acme):
    with acme.active():
        ReportJob.objects.create(
            kind="daily", period="2026-01-05", status="failed", error="disk full on writer"
        )
        StockReconciliation.objects.create(
            agents_checked=3,
            drift=[{"agent_id": 9, "name": "Mapo tofu", "stock": 4, "ledger": 6, "difference": -2}],
        )
        Screen.objects.create(name="Wok station", token_hash="c" * 64)
    connection.set_schema_to_public()
    page = ops.get(_change_url(acme.organization))
    assert page.status_code == 200
    html = page.content.decode()
    assert "disk full on writer" in html
    assert "Mapo tofu" in html
    assert "Wok station" in html
    # Read only: not form inputs.
    assert 'name="report_job_failures"' not in html


def test_suspend_resume_and_deletion_actions(ops, acme):
    pk = str(acme.organization.pk)
    for action in ("suspend", "reactivate", "schedule_deletion", "cancel_deletion"):
        response = ops.post(CHANGELIST, {"action": action, "_selected_action": [pk]})
        assert response.status_code == 302, action
    actions = list(
        PlatformAuditEvent.objects.filter(organization_ref=acme.organization.pk)
        .order_by("at", "id")
        .values_list("action", flat=True)
    )
    assert actions[-4:] == [
        "organization.suspend",
        "organization.resume",
        "organization.deletion_schedule",
        "organization.deletion_cancel",
    ]
    acme.organization.refresh_from_db()
    assert acme.organization.is_active and acme.organization.deletion_scheduled_at is None


def test_django_delete_is_off(ops, acme):
    page = ops.get(CHANGELIST)
    assert "delete_selected" not in page.content.decode()
    assert ops.get(f"{CHANGELIST}{acme.organization.pk}/delete/").status_code == 403
    response = ops.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [acme.organization.pk]}
    )
    assert Organization.objects.filter(pk=acme.organization.pk).exists()
    assert response.status_code in (200, 302)


def test_fleet_page(ops, acme, globex):
    with acme.active():
        tasks_bulk(acme.organization, [_pending_now()])
        ReportJob.objects.create(kind="daily", period="2026-01-05", status="failed", error="x")
    connection.set_schema_to_public()
    Organization.objects.filter(pk=globex.organization.pk).update(is_active=False)
    page = ops.get("/admin/fleet/?refresh=1")
    assert page.status_code == 200
    fleet = page.context["fleet"]
    assert fleet.suspended >= 1 and fleet.active >= 1
    assert fleet.tasks_last_hour >= 1 and fleet.failed_jobs_24h >= 1
    assert ("acme", "Acme", 1) in fleet.failing
    # Operators only.
    member = Client(HTTP_HOST=settings.PUBLIC_DOMAIN)
    member.force_login(acme.users["owner"])
    assert member.get("/admin/fleet/").status_code == 302


def test_operators_cannot_add_or_edit_memberships_directly(ops, acme):
    """People join by invitation only (DESIGN 3): no admin path creates or edits a member."""
    from accounts.models import Membership

    before = Membership.objects.filter(organization=acme.organization).count()
    assert ops.get("/admin/accounts/membership/add/").status_code == 403
    membership = Membership.objects.filter(organization=acme.organization).first()
    response = ops.post(
        f"/admin/accounts/membership/{membership.pk}/change/",
        {"user": membership.user_id, "organization": acme.organization.pk, "role": "owner"},
    )
    assert response.status_code == 403
    page = ops.get(_change_url(acme.organization))
    assert page.status_code == 200
    assert b"memberships-TOTAL_FORMS" in page.content  # the inline is shown...
    assert b'name="memberships-0-role"' not in page.content  # ...but nothing is editable
    assert Membership.objects.filter(organization=acme.organization).count() == before
