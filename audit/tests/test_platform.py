"""The platform audit (public schema): operators' actions and platform commands, read only in
the admin."""

import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django_redis import get_redis_connection
from django_tenants.utils import tenant_context

from accounts.models import User
from audit.choices import ActorType, AuditAction, PlatformAction
from audit.models import AuditEvent
from organizations.models import Organization, PlatformAuditEvent

PASSWORD = "correct-horse-battery"


def test_create_organization_is_audited_on_the_platform_and_in_the_new_organization(live_db):
    slug = f"aud-{uuid.uuid4().hex[:6]}"
    call_command(
        "create_organization",
        name="Audit Foods",
        slug=slug,
        domain=f"{slug}.localhost",
        owner_email=f"owner@{slug}.test",
        stdout=open("/dev/null", "w"),  # noqa: SIM115
    )
    organization = Organization.objects.get(slug=slug)
    try:
        row = PlatformAuditEvent.objects.get(
            action=PlatformAction.ORGANIZATION_CREATE, organization_slug=slug
        )
        assert (row.actor_type, row.actor_label) == (ActorType.SYSTEM, "create_organization")
        assert (row.organization_ref, row.organization_name) == (organization.pk, "Audit Foods")
        assert row.changes["owner_email"] == [None, f"owner@{slug}.test"]
        # The owner's invitation is in the organization's own trail, written from the public
        # schema into the new one.
        with tenant_context(organization):
            invite = AuditEvent.objects.get(action=AuditAction.MEMBER_INVITE)
            assert invite.actor_label == "create_organization"
            assert invite.changes["role"] == [None, "owner"]
    finally:
        connection.set_schema_to_public()
        organization.delete(force_drop=True)
    # The platform's record outlives the organization.
    assert PlatformAuditEvent.objects.filter(organization_slug=slug).exists()


@pytest.fixture
def operator(db):
    return User.objects.create_superuser(email="ops-audit@platform.test", password=PASSWORD)


def _admin(operator, ip="198.51.100.20") -> Client:
    client = Client(HTTP_HOST="localhost", REMOTE_ADDR=ip)
    client.force_login(operator)
    return client


def test_suspend_and_resume_from_the_admin_are_audited(acme, operator):
    client = _admin(operator)
    url = "/admin/organizations/organization/"
    pk = acme.organization.pk
    for action in ("suspend", "reactivate"):
        response = client.post(url, {"action": action, "_selected_action": [pk]})
        assert response.status_code == 302, response.content[:300]
    mine = [PlatformAction.ORGANIZATION_SUSPEND, PlatformAction.ORGANIZATION_RESUME]
    rows = list(
        PlatformAuditEvent.objects.filter(organization_ref=pk, action__in=mine).order_by("id")
    )
    assert [r.action for r in rows] == [
        PlatformAction.ORGANIZATION_SUSPEND,
        PlatformAction.ORGANIZATION_RESUME,
    ]
    for row in rows:
        assert (row.actor_type, row.actor_id, row.actor_label) == (
            ActorType.USER,
            str(operator.pk),
            operator.email,
        )
        assert (row.organization_slug, row.ip) == ("acme", "198.51.100.20")
    assert rows[0].changes == {"is_active": [True, False]}


def test_a_lockout_unlock_is_audited(operator):
    key = "cc:login-fail:email:locked-out@platform.test"
    redis = get_redis_connection("default")
    redis.set(key, 5, ex=600)
    response = _admin(operator).post("/admin/login-lockouts/unlock/", {"key": key})
    assert response.status_code == 302
    assert redis.get(key) is None
    row = PlatformAuditEvent.objects.get(action=PlatformAction.LOCKOUT_UNLOCK)
    assert row.changes == {"lockout": [key, None]}
    assert row.actor_label == operator.email


def test_the_platform_audit_is_read_only_in_the_admin(acme, operator):
    client = _admin(operator)
    client.post(
        "/admin/organizations/organization/",
        {"action": "suspend", "_selected_action": [acme.organization.pk]},
    )
    row = PlatformAuditEvent.objects.filter(organization_slug="acme").latest("id")
    base = "/admin/organizations/platformauditevent/"
    listing = client.get(base)
    assert listing.status_code == 200
    assert b"organization.suspend" in listing.content
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    # The detail page shows the row and offers no save.
    detail = client.get(f"{base}{row.pk}/change/")
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    client.post(f"{base}{row.pk}/change/", {"action": "organization.resume"})
    row.refresh_from_db()
    assert row.action == PlatformAction.ORGANIZATION_SUSPEND
    # Bulk delete from the list is not offered either.
    response = client.post(base, {"action": "delete_selected", "_selected_action": [row.pk]})
    assert PlatformAuditEvent.objects.filter(pk=row.pk).exists()
    assert response.status_code in (200, 302)
