"""Tenant resolution, suspension and provisioning."""

import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_exists
from rest_framework.test import APIClient

from accounts.models import Membership
from organizations.models import Organization


def test_unknown_host_is_404_in_the_envelope(acme):
    response = APIClient(HTTP_HOST="nobody.localhost").get("/api/v1/auth/me/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "TENANT_NOT_FOUND"
    assert response.json()["error"]["details"] == {"host": "nobody.localhost"}


def test_public_host_does_not_serve_the_tenant_api(acme):
    response = APIClient(HTTP_HOST="localhost").get("/api/v1/auth/me/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_requests_run_in_the_organization_schema(acme, globex):
    assert acme.client("owner").get("/api/v1/auth/me/").json()["organization"]["schema"] == "acme"
    me = globex.client("owner").get("/api/v1/auth/me/").json()
    assert me["organization"]["schema"] == "globex"


def test_suspended_organization_gets_403_on_every_api_call(acme):
    Organization.objects.filter(pk=acme.organization.pk).update(is_active=False)
    client = acme.client("owner")
    for path in ("/api/v1/auth/me/", "/api/v1/members/", "/api/v1/organization/"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "ORGANIZATION_SUSPENDED"
    login = APIClient(HTTP_HOST=acme.host).post(
        "/api/v1/auth/token/", {"email": "owner@acme.test", "password": "x"}, format="json"
    )
    assert login.json()["error"]["code"] == "ORGANIZATION_SUSPENDED"
    # Liveness still answers: the process is up even if this customer is suspended.
    assert client.get("/health/").status_code == 200


def test_reactivated_organization_works_again(acme):
    Organization.objects.filter(pk=acme.organization.pk).update(is_active=False)
    Organization.objects.filter(pk=acme.organization.pk).update(is_active=True)
    assert acme.client("owner").get("/api/v1/auth/me/").status_code == 200


def test_create_organization_command_makes_schema_domain_and_owner(live_db, capsys):
    try:
        call_command(
            "create_organization",
            "--name",
            "Initech",
            "--slug",
            "initech",
            "--domain",
            "Initech.localhost",
            "--owner-email",
            "Boss@Initech.test",
        )
        out = capsys.readouterr().out
        assert "schema: initech" in out and "domain: initech.localhost" in out
        org = Organization.objects.get(slug="initech")
        assert schema_exists("initech")
        assert org.domains.get().domain == "initech.localhost"
        # The owner is invited (no membership, no password until they accept the link).
        assert not Membership.objects.filter(organization=org).exists()
        token = re.search(r"accept: https://initech\.localhost/\S+\?token=(\S+)", out).group(1)
        accepted = APIClient(HTTP_HOST="initech.localhost").post(
            "/api/v1/invitations/accept/",
            {"token": token, "password": "s3cret-pass-99", "full_name": "Boss"},
            format="json",
        )
        assert accepted.status_code == 200 and accepted.json()["role"] == "owner"
        response = APIClient(HTTP_HOST="initech.localhost").post(
            "/api/v1/auth/token/",
            {"email": "boss@initech.test", "password": "s3cret-pass-99"},
            format="json",
        )
        assert response.status_code == 200
        with pytest.raises(CommandError, match="ORGANIZATION_EXISTS"):
            call_command(
                "create_organization",
                "--name",
                "X",
                "--slug",
                "initech",
                "--domain",
                "other.localhost",
                "--owner-email",
                "a@b.test",
            )
        with pytest.raises(CommandError, match="DOMAIN_EXISTS"):
            call_command(
                "create_organization",
                "--name",
                "X",
                "--slug",
                "initech2",
                "--domain",
                "initech.localhost",
                "--owner-email",
                "a@b.test",
            )
        assert not schema_exists("initech2")
    finally:
        connection.set_schema_to_public()
        org = Organization.objects.filter(slug="initech").first()
        if org:
            org.delete(force_drop=True)


@pytest.mark.parametrize("slug", ["1abc", "a", "Bad_Slug", "public", "x" * 41, "a b"])
def test_create_organization_rejects_bad_slugs(slug, db):
    with pytest.raises(CommandError, match="INVALID_SLUG"):
        call_command(
            "create_organization",
            "--name",
            "X",
            "--slug",
            slug,
            "--domain",
            "bad.localhost",
            "--owner-email",
            "a@b.test",
        )
    assert not Organization.objects.filter(domains__domain="bad.localhost").exists()


def test_create_organization_rejects_unknown_timezone(db):
    with pytest.raises(CommandError, match="VALIDATION_ERROR"):
        call_command(
            "create_organization",
            "--name",
            "X",
            "--slug",
            "tzbad",
            "--domain",
            "tzbad.localhost",
            "--owner-email",
            "a@b.test",
            "--timezone",
            "Mars/Base",
        )
    assert not Organization.objects.filter(slug="tzbad").exists()
