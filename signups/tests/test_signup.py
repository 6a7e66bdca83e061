"""Signup end to end on the platform host: HTTP, a real Celery worker sending the emails into
a directory (``EMAIL_URL=emlfile://``), the confirmation link read back and opened, then the
operator's decision (approve provisions and invites the owner; reject tells the applicant)."""

import email
import os
import re
import time
import uuid
from email import policy
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from accounts.models import Invitation, User
from organizations.models import Domain, Organization, PlatformAuditEvent
from signups import services
from signups.models import SignupApplication, SignupStatus
from signups.selectors import signup_token_hash

URL = "/api/v1/signup/"
LINK = re.compile(r"https?://\S+")


@pytest.fixture(scope="module")
def mail_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("mail")
    previous = os.environ.get("EMAIL_URL")
    os.environ["EMAIL_URL"] = f"emlfile:///{path}"
    yield path
    if previous is None:
        os.environ.pop("EMAIL_URL", None)
    else:
        os.environ["EMAIL_URL"] = previous


@pytest.fixture(scope="module")
def worker(mail_dir, request):
    return request.getfixturevalue("celery_worker_process")


def wait_for_mail(directory, to: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(directory.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["To"] == to:
                path.unlink()
                return message
        time.sleep(0.2)
    raise AssertionError(f"no email to {to} within {timeout}s")


def platform() -> Client:
    return Client(HTTP_HOST=django_settings.PUBLIC_DOMAIN)


def apply(slug: str, contact: str, **extra):
    body = {
        "organization_name": f"Noodle House {slug}",
        "slug": slug,
        "contact_email": contact,
        "message": "Two shops in Chengdu.",
        **extra,
    }
    return platform().post(URL, body, content_type="application/json")


@pytest.fixture
def slug():
    value = f"su-{uuid.uuid4().hex[:8]}"
    yield value
    connection.set_schema_to_public()
    for org in Organization.objects.filter(slug=value):
        org.delete(force_drop=True)
    SignupApplication.objects.filter(slug=value).delete()


def test_apply_confirm_approve_invites_the_owner(live_db, worker, mail_dir, slug):
    contact = f"boss-{slug}@example.test"
    response = apply(slug, contact)
    assert response.status_code == 202, response.content
    application = SignupApplication.objects.get(slug=slug)
    assert application.status == SignupStatus.UNCONFIRMED
    assert application.client_ip == "127.0.0.1"

    message = wait_for_mail(mail_dir, contact)
    text = message.get_body(("plain",)).get_content()
    url = LINK.search(text).group(0)
    parts = urlsplit(url)
    assert parts.netloc == django_settings.PUBLIC_DOMAIN and parts.path == "/signup/confirm/"
    token = parse_qs(parts.query)["token"][0]
    # Only the hash is stored.
    assert application.token_hash == signup_token_hash(token) and token not in str(
        SignupApplication.objects.filter(pk=application.pk).values().first()
    )

    # GET shows the button (a mail scanner's prefetch confirms nothing); POST confirms.
    page = platform().get("/signup/confirm/", {"token": token})
    assert page.status_code == 200 and b'id="confirm"' in page.content
    application.refresh_from_db()
    assert application.status == SignupStatus.UNCONFIRMED
    done = platform().post("/signup/confirm/", {"token": token})
    assert done.status_code == 200
    application.refresh_from_db()
    assert application.status == SignupStatus.CONFIRMED and application.confirmed_at
    # The link works once.
    assert platform().post("/signup/confirm/", {"token": token}).status_code == 404

    # The slug is held while the application waits.
    second = apply(slug, "someone-else@example.test")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "SLUG_TAKEN"

    operator = User.objects.create_user(
        email=f"op-{slug}@platform.test", password="x-operator-pass", is_staff=True
    )
    try:
        provisioned = services.signup_approve(application=application, operator=operator)
        org = provisioned.organization
        assert org.slug == slug
        assert Domain.objects.filter(
            tenant=org, domain=f"{slug}.{django_settings.TENANT_DOMAIN_SUFFIX}"
        ).exists()
        invitation = Invitation.objects.get(organization=org)
        assert invitation.email == contact and invitation.role == "owner"
        application.refresh_from_db()
        assert application.status == SignupStatus.APPROVED
        assert application.organization_id == org.pk and application.decided_by == operator
        assert PlatformAuditEvent.objects.filter(
            organization_ref=org.pk, action="signup.approve"
        ).exists()
        # The owner's invitation is emailed by the worker.
        invite = wait_for_mail(mail_dir, contact)
        assert (
            f"{slug}.{django_settings.TENANT_DOMAIN_SUFFIX}"
            in invite.get_body(("plain",)).get_content()
        )
        # Approving twice provisions nothing more.
        with pytest.raises(services.SignupNotDecidable):
            services.signup_approve(application=application, operator=operator)
        # The organization now holds the slug.
        third = apply(slug, "late@example.test")
        assert third.status_code == 409
    finally:
        operator.delete()


def test_reject_tells_a_confirmed_applicant(live_db, worker, mail_dir, slug):
    contact = f"reject-{slug}@example.test"
    application = services.signup_apply(
        organization_name="Tea Corner", slug=slug, contact_email=contact, language="zh-hans"
    )
    wait_for_mail(mail_dir, contact)  # the confirmation link
    SignupApplication.objects.filter(pk=application.pk).update(status=SignupStatus.CONFIRMED)
    application.refresh_from_db()
    services.signup_reject(application=application, note="Not in our region yet.")
    application.refresh_from_db()
    assert application.status == SignupStatus.REJECTED
    message = wait_for_mail(mail_dir, contact)
    assert message["Content-Language"] == "zh-hans"
    assert "Not in our region yet." in message.get_body(("plain",)).get_content()
    assert PlatformAuditEvent.objects.filter(action="signup.reject", changes__slug=slug).exists()
    # A rejected application frees its slug.
    assert apply(slug, contact).status_code == 202


@pytest.mark.django_db
class TestValidation:
    def test_invalid_slug(self):
        response = apply("9-bad slug", "a@example.test")
        assert response.status_code == 400
        assert response.json()["error"]["code"] in ("INVALID_SLUG", "VALIDATION_ERROR")
        response = apply("admin", "a@example.test")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "INVALID_SLUG"

    def test_taken_slug(self, acme):
        response = apply("acme", "a@example.test")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "SLUG_TAKEN"
        assert not SignupApplication.objects.filter(slug="acme").exists()

    def test_bad_fields(self):
        response = platform().post(
            URL, {"slug": "ok-slug", "contact_email": "nope"}, content_type="application/json"
        )
        assert response.status_code == 400
        fields = response.json()["error"]["details"]["fields"]
        assert set(fields) >= {"organization_name", "contact_email"}

    def test_not_on_an_organization_host(self, acme):
        response = Client(HTTP_HOST=acme.host).post(
            URL, {"slug": "x"}, content_type="application/json"
        )
        assert response.status_code == 404

    def test_throttled_per_client_ip(self, settings):
        settings.SIGNUP_RATE = "2/hour"
        codes = [
            apply(f"thr-{i}-{uuid.uuid4().hex[:6]}", f"t{i}@example.test").status_code
            for i in range(3)
        ]
        assert codes == [202, 202, 429]
        last = apply(f"thr-x-{uuid.uuid4().hex[:6]}", "x@example.test")
        assert last.status_code == 429
        assert last.json()["error"]["code"] == "RATE_LIMITED"
        assert int(last["Retry-After"]) > 0

    def test_expired_unconfirmed_application_frees_its_slug(self):
        first = services.signup_apply(
            organization_name="A", slug="exp-slug", contact_email="a@example.test"
        )
        SignupApplication.objects.filter(pk=first.pk).update(token_expires_at="2000-01-01T00:00Z")
        assert apply("exp-slug", "b@example.test").status_code == 202
        assert list(
            SignupApplication.objects.filter(slug="exp-slug").values_list(
                "contact_email", flat=True
            )
        ) == ["b@example.test"]

    def test_confirm_page_with_a_bad_token(self):
        assert platform().get("/signup/confirm/", {"token": "nope"}).status_code == 404


@pytest.mark.django_db
def test_platform_openapi_documents_signup():
    response = platform().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    operation = schema["paths"]["/api/v1/signup/"]["post"]
    assert {"202", "400", "409", "429"} <= set(operation["responses"])
    assert len(schema["paths"]) == 1  # the admin and metrics are not an API
