"""End to end, as a real client goes: HTTP requests, a real Celery worker process sending the
email through ``EMAIL_URL=emlfile://`` into a directory, the link read back from the ``.eml``
file, then the API (or the page) the link leads to."""

import email
import os
import re
import time
from datetime import timedelta
from email import policy
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Invitation, User
from organizations.models import Organization
from testing.orgs import PASSWORD

INVITE_URL = "/api/v1/invitations/"
PREVIEW_URL = "/api/v1/invitations/preview/"
ACCEPT_URL = "/api/v1/invitations/accept/"
TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
RESET_URL = "/api/v1/auth/password/reset/"
CONFIRM_URL = "/api/v1/auth/password/reset/confirm/"
LINK = re.compile(r"https?://\S+")


@pytest.fixture(scope="module")
def mail_dir(tmp_path_factory):
    """Where the worker writes its messages: set before the worker starts (module scope)."""
    path = tmp_path_factory.mktemp("mail")
    previous = os.environ.get("EMAIL_URL")
    os.environ["EMAIL_URL"] = f"emlfile:///{path}"  # four slashes: an absolute directory
    yield path
    if previous is None:
        os.environ.pop("EMAIL_URL", None)
    else:
        os.environ["EMAIL_URL"] = previous


@pytest.fixture(scope="module")
def worker(mail_dir, request):
    return request.getfixturevalue("celery_worker_process")


def wait_for_mail(directory, to: str, seen: set, timeout: float = 30.0) -> email.message.Message:
    """The next message to ``to`` that has not been read yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(directory.glob("*.eml")):
            if path in seen:
                continue
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["To"] == to:
                seen.add(path)
                return message
        time.sleep(0.2)
    raise AssertionError(f"no email to {to} within {timeout}s: {sorted(directory.iterdir())}")


def link_of(message) -> tuple[str, dict]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    url = LINK.search(text).group(0)
    assert url in html.replace("&amp;", "&")
    parts = urlsplit(url)
    return parts.netloc, {k: v[0] for k, v in parse_qs(parts.query).items()} | {"_path": parts.path}


def login(host, email_address, password):
    return APIClient(HTTP_HOST=host).post(
        TOKEN_URL, {"email": email_address, "password": password}, format="json"
    )


def test_invite_new_person_email_preview_accept_login(committed_org, worker, mail_dir):
    org, seen = committed_org, set()
    # The product's default (test organizations are made English: conftest.make_org).
    Organization.objects.filter(pk=org.organization.pk).update(language="zh-hans")
    invitee = f"cook-{org.schema}@example.test"
    response = org.client("owner").post(
        INVITE_URL, {"email": invitee, "role": "staff"}, format="json"
    )
    assert response.status_code == 201, response.content

    message = wait_for_mail(mail_dir, invitee, seen)
    # The organization's language (zh-hans by default) for an address without an account.
    assert message["Content-Language"] == "zh-hans"
    host, query = link_of(message)
    assert host == org.host
    assert query["_path"] == "/accounts/invitations/accept/"

    client = APIClient(HTTP_HOST=host)
    preview = client.get(PREVIEW_URL, {"token": query["token"]})
    assert preview.status_code == 200
    assert preview.json()["organization"] == org.organization.name
    assert preview.json()["role"] == "staff"
    accepted = client.post(
        ACCEPT_URL,
        {"token": query["token"], "password": "my-own-Secret-2024", "full_name": "Cook"},
        format="json",
    )
    assert accepted.status_code == 200, accepted.content
    assert login(host, invitee, "my-own-Secret-2024").status_code == 200
    User.objects.filter(email=invitee).delete()


def test_invite_existing_account_accept_with_its_own_password(committed_org, worker, mail_dir):
    org, seen = committed_org, set()
    existing = User.objects.create_user(
        email=f"known-{org.schema}@example.test", password="known-Secret-55", language="en"
    )
    try:
        response = org.client("manager").post(
            INVITE_URL, {"email": existing.email, "role": "staff"}, format="json"
        )
        assert response.status_code == 201
        message = wait_for_mail(mail_dir, existing.email, seen)
        assert message["Content-Language"] == "en"  # the account's own language
        assert "You are invited to join" in message["Subject"]
        host, query = link_of(message)
        accepted = APIClient(HTTP_HOST=host).post(
            ACCEPT_URL, {"token": query["token"], "password": "known-Secret-55"}, format="json"
        )
        assert accepted.status_code == 200, accepted.content
        assert accepted.json()["role"] == "staff"
        assert login(host, existing.email, "known-Secret-55").status_code == 200
    finally:
        existing.delete()


def test_resend_mails_a_new_link_and_the_old_one_is_dead(committed_org, worker, mail_dir):
    org, seen = committed_org, set()
    invitee = f"twice-{org.schema}@example.test"
    created = org.client("owner").post(INVITE_URL, {"email": invitee, "role": "staff"})
    _host, first = link_of(wait_for_mail(mail_dir, invitee, seen))
    Invitation.objects.filter(pk=created.json()["id"]).update(
        last_sent_at=timezone.now() - timedelta(minutes=2)
    )
    resent = org.client("owner").post(f"{INVITE_URL}{created.json()['id']}/resend/")
    assert resent.status_code == 200
    _host, second = link_of(wait_for_mail(mail_dir, invitee, seen))
    assert first["token"] != second["token"]
    client = APIClient(HTTP_HOST=org.host)
    assert client.get(PREVIEW_URL, {"token": first["token"]}).status_code == 404
    assert client.get(PREVIEW_URL, {"token": second["token"]}).status_code == 200


def test_reset_by_email_then_the_old_refresh_token_is_refused(committed_org, worker, mail_dir):
    org, seen = committed_org, set()
    user = org.users["manager"]
    old = login(org.host, user.email, PASSWORD).json()
    client = APIClient(HTTP_HOST=org.host)
    # An address that is no member here gets the same answer and no email.
    assert client.post(RESET_URL, {"email": "stranger@example.test"}).status_code == 202
    assert client.post(RESET_URL, {"email": user.email}, format="json").status_code == 202

    message = wait_for_mail(mail_dir, user.email, seen)
    host, query = link_of(message)
    assert host == org.host and query["_path"] == "/accounts/password/reset/"
    done = APIClient(HTTP_HOST=host).post(
        CONFIRM_URL,
        {"uid": query["uid"], "token": query["token"], "new_password": "reset-Secret-77"},
        format="json",
    )
    assert done.status_code == 204
    assert login(host, user.email, "reset-Secret-77").status_code == 200
    assert login(host, user.email, PASSWORD).status_code == 401
    refused = client.post(REFRESH_URL, {"refresh": old["refresh"]}, format="json")
    assert refused.status_code == 401
    assert not [p for p in mail_dir.glob("*.eml") if b"stranger@example.test" in p.read_bytes()]


def test_messages_are_rendered_in_the_readers_language(acme):
    """In-process (also makes pytest-django set up the test database when this module runs
    alone: the live tests above reach it only through ``live_db``)."""
    from accounts.emails import invitation_message
    from accounts.services import invitation_create

    issued = invitation_create(
        organization=acme.organization, email="lang@example.test", role="staff"
    )
    # The product's default (the shared test organizations are English: conftest.make_org).
    acme.organization.language = "zh-hans"
    try:
        for user_language, expected in (("", "zh-hans"), ("en", "en"), ("zh-hans", "zh-hans")):
            reader = User(email="lang@example.test", language=user_language)
            message = invitation_message(
                invitation=issued.invitation, token=issued.token, user=reader
            )
            assert message.extra_headers["Content-Language"] == expected
            assert issued.accept_url in message.body
            ((html, mime),) = message.alternatives
            assert mime == "text/html" and f'lang="{expected}"' in html
            assert "\n" not in message.subject
    finally:
        acme.organization.language = "en"
