"""Deletion (DESIGN 12): the owner schedules with the password re-entered, the organization is
refused at once, cancel gives it back; the purge leaves nothing of it in PostgreSQL or storage
and nothing of another organization is touched."""

import io
import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import Invitation, Membership
from accounts.services import invitation_create
from core.exceptions import ApplicationError
from organizations.models import Domain, Organization, PlatformAuditEvent
from organizations.services import (
    DELETION_BY_OPERATOR,
    DELETION_BY_OWNER,
    organization_deletion_cancel,
    organization_deletion_schedule,
    organization_purge,
)
from testing.orgs import PASSWORD, make_org

URL = "/api/v1/organization/deletion/"
SETTINGS_URL = "/api/v1/organization/"


def _refresh(org):
    org.organization.refresh_from_db()
    return org.organization


class TestOwnerSchedules:
    def test_wrong_password_schedules_nothing(self, acme):
        response = acme.client("owner").post(URL, {"password": "not-it"}, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "INVALID_PASSWORD"
        assert _refresh(acme).deletion_scheduled_at is None
        assert acme.client("owner").get(SETTINGS_URL).status_code == 200

    def test_wrong_passwords_count_against_the_login_lockout(self, acme):
        owner = acme.client("owner")
        codes = [
            owner.post(URL, {"password": f"guess-{i}"}, format="json").status_code for i in range(6)
        ]
        assert codes[:5] == [403] * 5
        assert codes[5] == 429  # locked: even the right password is refused now
        response = owner.post(URL, {"password": PASSWORD}, format="json")
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "LOGIN_LOCKED"
        assert _refresh(acme).deletion_scheduled_at is None

    def test_only_the_owner(self, acme):
        for role in ("manager", "staff"):
            response = acme.client(role).post(URL, {"password": PASSWORD}, format="json")
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "PERMISSION_DENIED"
        assert _refresh(acme).deletion_scheduled_at is None

    def test_schedule_refuses_the_api_then_cancel_restores_it(self, acme, globex, settings):
        settings.TENANT_DELETION_GRACE_DAYS = 30
        before = timezone.now()
        response = acme.client("owner").post(URL, {"password": PASSWORD}, format="json")
        assert response.status_code == 202
        body = response.json()
        org = _refresh(acme)
        assert org.deletion_scheduled_at >= before
        assert org.deletion_scheduled_by == DELETION_BY_OWNER
        assert org.deletion_due_at - org.deletion_scheduled_at == timedelta(days=30)
        assert body["deletion_due_at"].startswith(org.deletion_due_at.date().isoformat())

        # Every route, every role: 403 with the deletion's own code.
        for role, path in (("owner", SETTINGS_URL), ("staff", "/api/v1/tasks/")):
            refused = acme.client(role).get(path)
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "ORGANIZATION_DELETION_SCHEDULED"
        # The other organization is not concerned.
        assert globex.client("owner").get(SETTINGS_URL).status_code == 200
        # The owner can still sign in (to cancel); scheduling twice is a conflict.
        login = Client(HTTP_HOST=acme.host).post(
            "/api/v1/auth/token/",
            {"email": acme.users["owner"].email, "password": PASSWORD},
            content_type="application/json",
        )
        assert login.status_code == 200
        again = acme.client("owner").post(URL, {"password": PASSWORD}, format="json")
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "DELETION_ALREADY_SCHEDULED"
        # A manager cannot cancel.
        assert acme.client("manager").delete(URL).status_code == 403
        assert _refresh(acme).deletion_scheduled_at is not None

        assert acme.client("owner").delete(URL).status_code == 204
        org = _refresh(acme)
        assert org.deletion_scheduled_at is None and org.deletion_due_at is None
        assert acme.client("staff").get("/api/v1/tasks/").status_code == 200
        actions = list(
            PlatformAuditEvent.objects.filter(organization_ref=org.pk)
            .order_by("at", "id")
            .values_list("action", flat=True)
        )
        assert actions[-2:] == ["organization.deletion_schedule", "organization.deletion_cancel"]

    def test_owner_cannot_cancel_an_operators_deletion(self, acme):
        organization_deletion_schedule(organization=acme.organization, by=DELETION_BY_OPERATOR)
        response = acme.client("owner").delete(URL)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "DELETION_SCHEDULED_BY_OPERATOR"
        assert _refresh(acme).deletion_scheduled_at is not None
        organization_deletion_cancel(organization=acme.organization, by=DELETION_BY_OPERATOR)
        assert _refresh(acme).deletion_scheduled_at is None

    def test_cancel_keeps_a_suspension(self, acme):
        Organization.objects.filter(pk=acme.organization.pk).update(is_active=False)
        acme.organization.refresh_from_db()
        organization_deletion_schedule(organization=acme.organization, by=DELETION_BY_OPERATOR)
        organization_deletion_cancel(organization=acme.organization, by=DELETION_BY_OPERATOR)
        response = acme.client("owner").get(SETTINGS_URL)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "ORGANIZATION_SUSPENDED"


def test_nothing_but_the_purge_drops_a_schema():
    """``auto_drop_schema`` off: a plain delete (a shell, a cascade) keeps the schema."""
    assert Organization.auto_drop_schema is False


def _schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def _files_under(prefix: str) -> list[str]:
    try:
        directories, files = default_storage.listdir(prefix)
    except FileNotFoundError:
        return []
    found = [f"{prefix}{name}" for name in files]
    for directory in directories:
        found += _files_under(f"{prefix}{directory}/")
    return found


def test_purge_leaves_nothing_and_spares_the_other_organization(live_db):
    suffix = uuid.uuid4().hex[:6]
    doomed = make_org(f"doomed-{suffix}")
    other = make_org(f"kept-{suffix}")
    try:
        org = doomed.organization
        schema = doomed.schema
        # Data in its schema, files under its prefix, a pending invitation, memberships.
        default_storage.save(f"{schema}/reports/daily/2026-01-01-x.xlsx", ContentFile(b"xlsx"))
        default_storage.save(f"{schema}/exports/export-1.zip", ContentFile(b"zip"))
        kept_file = default_storage.save(f"{other.schema}/reports/k.xlsx", ContentFile(b"k"))
        invitation_create(organization=org, email=f"new-{suffix}@example.test", role="staff")
        assert Membership.objects.filter(organization=org).count() == 3

        organization_deletion_schedule(organization=org, by=DELETION_BY_OPERATOR)
        with pytest.raises(ApplicationError) as not_due:
            organization_purge(organization=org)
        assert not_due.value.code == "DELETION_NOT_DUE"
        Organization.objects.filter(pk=org.pk).update(
            deletion_due_at=timezone.now() - timedelta(minutes=1)
        )

        out = io.StringIO()
        call_command("purge_organizations", "--dry-run", stdout=out)
        assert f"[1/1] {org.slug}" in out.getvalue()
        assert _schema_exists(schema) and Organization.objects.filter(pk=org.pk).exists()

        out = io.StringIO()
        call_command("purge_organizations", stdout=out)
        assert f"[1/1] {org.slug} ({schema}) purged: 2 file(s) deleted" in out.getvalue()

        assert not _schema_exists(schema)
        assert not Organization.objects.filter(pk=org.pk).exists()
        assert not Domain.objects.filter(tenant_id=org.pk).exists()
        assert not Domain.objects.filter(domain=doomed.host).exists()
        assert not Membership.objects.filter(organization_id=org.pk).exists()
        assert not Invitation.objects.filter(organization_id=org.pk).exists()
        assert _files_under(f"{schema}/") == []
        # The accounts stay (global; they may belong elsewhere).
        assert doomed.users["owner"].__class__.objects.filter(pk=doomed.users["owner"].pk).exists()
        # The platform audit keeps the record.
        record = PlatformAuditEvent.objects.get(
            organization_ref=org.pk, action="organization.purge"
        )
        assert record.organization_slug == org.slug
        assert record.changes["files"] == 2
        assert record.actor_label == "purge_organizations"

        # The other organization is untouched.
        assert _schema_exists(other.schema)
        assert Domain.objects.filter(domain=other.host).exists()
        assert Membership.objects.filter(organization=other.organization).count() == 3
        assert default_storage.exists(kept_file)
        response = other.client("owner").get(SETTINGS_URL)
        assert response.status_code == 200

        out = io.StringIO()
        call_command("purge_organizations", stdout=out)
        assert "Nothing to purge." in out.getvalue()
    finally:
        connection.set_schema_to_public()
        for leftover in Organization.objects.filter(
            slug__in=[f"doomed-{suffix}", f"kept-{suffix}"]
        ):
            leftover.delete(force_drop=True)
        for org_ in (doomed, other):
            for path in _files_under(f"{org_.schema}/"):
                default_storage.delete(path)
