"""Password change, reset by email (always 202, one-time 1 h link), profile, log out
everywhere; each of them that ends sessions refuses every earlier token."""

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core.management import call_command
from django.db import connection
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from accounts.models import Invitation, Membership, User
from accounts.services import password_reset_request
from organizations.models import Organization
from testing.orgs import PASSWORD

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
ME_URL = "/api/v1/auth/me/"
CHANGE_URL = "/api/v1/auth/password/change/"
RESET_URL = "/api/v1/auth/password/reset/"
CONFIRM_URL = "/api/v1/auth/password/reset/confirm/"
LOGOUT_ALL_URL = "/api/v1/auth/logout-all/"
NEW_PASSWORD = "brand-new-Passphrase-7"


def login(org, email, password=PASSWORD):
    return APIClient(HTTP_HOST=org.host).post(
        TOKEN_URL, {"email": email, "password": password}, format="json"
    )


def bearer(org, access):
    return APIClient(HTTP_HOST=org.host, HTTP_AUTHORIZATION=f"Bearer {access}")


def reset_link(user):
    return urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)


# --- Change ----------------------------------------------------------------------------------


def test_change_password_refuses_old_tokens_and_returns_fresh_ones(acme):
    old = login(acme, "staff@acme.test").json()
    response = bearer(acme, old["access"]).post(
        CHANGE_URL,
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    fresh = response.json()
    assert fresh["role"] == "staff"
    assert bearer(acme, fresh["access"]).get(ME_URL).status_code == 200
    assert bearer(acme, old["access"]).get(ME_URL).status_code == 401
    refresh = APIClient(HTTP_HOST=acme.host).post(
        REFRESH_URL, {"refresh": old["refresh"]}, format="json"
    )
    assert refresh.status_code == 401
    assert login(acme, "staff@acme.test").status_code == 401
    assert login(acme, "staff@acme.test", NEW_PASSWORD).status_code == 200


def test_change_password_needs_the_current_one_and_a_valid_new_one(acme):
    client = acme.client("staff")
    wrong = client.post(
        CHANGE_URL, {"current_password": "nope-nope", "new_password": NEW_PASSWORD}, format="json"
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "INVALID_CURRENT_PASSWORD"
    weak = client.post(
        CHANGE_URL, {"current_password": PASSWORD, "new_password": "123"}, format="json"
    )
    assert weak.status_code == 400
    assert "new_password" in weak.json()["error"]["details"]["fields"]
    assert User.objects.get(email="staff@acme.test").check_password(PASSWORD)
    assert acme.client().post(CHANGE_URL, {}, format="json").status_code == 401


def test_guessing_the_current_password_hits_the_login_lockout(acme):
    client = acme.client("staff")
    for _ in range(5):
        response = client.post(
            CHANGE_URL, {"current_password": "guess-1234", "new_password": NEW_PASSWORD}
        )
        assert response.status_code == 400
    locked = client.post(CHANGE_URL, {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "LOGIN_LOCKED"
    assert User.objects.get(email="staff@acme.test").check_password(PASSWORD)


# --- Reset -----------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["staff@acme.test", "nobody@nowhere.test", "manager@globex.test"])
def test_reset_request_answers_202_the_same_for_any_email(acme, globex, email):
    response = APIClient(HTTP_HOST=acme.host).post(RESET_URL, {"email": email}, format="json")
    assert response.status_code == 202
    assert response.json() == {
        "detail": "If this email belongs to an account here, a reset link is on its way."
    }


def test_reset_request_queues_the_job_for_every_email_and_is_limited_per_email(
    acme, django_capture_on_commit_callbacks, settings
):
    # The request does the same work either way: the job decides whether to send.
    with django_capture_on_commit_callbacks() as queued:
        for email in ["nobody@nowhere.test", "staff@acme.test"]:
            password_reset_request(organization=acme.organization, email=email)
    assert len(queued) == 2
    with django_capture_on_commit_callbacks() as queued:
        for _ in range(settings.PASSWORD_RESET_PER_EMAIL_HOUR + 2):
            password_reset_request(organization=acme.organization, email="Manager@acme.test")
    assert len(queued) == settings.PASSWORD_RESET_PER_EMAIL_HOUR


def test_reset_request_is_throttled_per_ip(acme):
    client = APIClient(HTTP_HOST=acme.host, REMOTE_ADDR="10.77.0.1")
    codes = [
        client.post(RESET_URL, {"email": f"x{i}@example.test"}, format="json").status_code
        for i in range(11)
    ]
    assert codes[:10] == [202] * 10
    assert codes[10] == 429
    other = APIClient(HTTP_HOST=acme.host, REMOTE_ADDR="10.77.0.2")
    assert other.post(RESET_URL, {"email": "x@example.test"}, format="json").status_code == 202


def test_reset_confirm_sets_the_password_once_and_ends_sessions(acme):
    user = acme.users["manager"]
    old = login(acme, user.email).json()
    uid, token = reset_link(user)
    anonymous = APIClient(HTTP_HOST=acme.host)
    weak = anonymous.post(
        CONFIRM_URL, {"uid": uid, "token": token, "new_password": "abc"}, format="json"
    )
    assert weak.status_code == 400
    assert "new_password" in weak.json()["error"]["details"]["fields"]
    done = anonymous.post(
        CONFIRM_URL, {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json"
    )
    assert done.status_code == 204
    assert login(acme, user.email, NEW_PASSWORD).status_code == 200
    again = anonymous.post(
        CONFIRM_URL, {"uid": uid, "token": token, "new_password": "another-Pass-88"}, format="json"
    )
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "INVALID_RESET_LINK"
    assert bearer(acme, old["access"]).get(ME_URL).status_code == 401
    refused = anonymous.post(REFRESH_URL, {"refresh": old["refresh"]}, format="json")
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("uid", "token"),
    [("", ""), ("MQ", "bad-token"), ("!!!", "x"), ("OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "1-2")],
)
def test_reset_confirm_with_a_bad_link_is_400(acme, uid, token):
    response = APIClient(HTTP_HOST=acme.host).post(
        CONFIRM_URL, {"uid": uid or "x", "token": token or "x", "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_RESET_LINK"


# --- Profile and log out everywhere -----------------------------------------------------------


def test_profile_edit_name_and_language(acme):
    client = acme.client("staff")
    response = client.patch(ME_URL, {"full_name": "Sam Cook", "language": "en"}, format="json")
    assert response.status_code == 200
    assert (response.json()["full_name"], response.json()["language"]) == ("Sam Cook", "en")
    assert client.get(ME_URL).json()["full_name"] == "Sam Cook"
    bad = client.patch(ME_URL, {"language": "fr"}, format="json")
    assert bad.status_code == 400
    sneaky = client.patch(ME_URL, {"email": "boss@acme.test", "is_staff": True}, format="json")
    assert sneaky.status_code == 400
    user = User.objects.get(email="staff@acme.test")
    assert (user.language, user.is_staff) == ("en", False)


def test_logout_everywhere_refuses_every_token_of_every_organization(acme, globex):
    on_acme = login(acme, "both@multi.test").json()
    on_globex = login(globex, "both@multi.test").json()
    assert bearer(acme, on_acme["access"]).post(LOGOUT_ALL_URL).status_code == 204
    assert bearer(acme, on_acme["access"]).get(ME_URL).status_code == 401
    assert bearer(globex, on_globex["access"]).get(ME_URL).status_code == 401
    for org, tokens in ((acme, on_acme), (globex, on_globex)):
        response = APIClient(HTTP_HOST=org.host).post(
            REFRESH_URL, {"refresh": tokens["refresh"]}, format="json"
        )
        assert response.status_code == 401
    assert login(acme, "both@multi.test").status_code == 200


# --- Issue 12, defect 1: create_organization and an existing account ---------------------------


def test_create_organization_for_an_existing_email_leaves_its_password_alone(live_db, capsys):
    victim = User.objects.create_user(email="existing-owner@corp.test", password=PASSWORD)
    before = victim.password
    try:
        call_command(
            "create_organization",
            "--name",
            "Hooli",
            "--slug",
            "hooli",
            "--domain",
            "hooli.localhost",
            "--owner-email",
            "Existing-Owner@corp.test",
        )
        out = capsys.readouterr().out
        assert "accept: https://hooli.localhost/accounts/invitations/accept/?token=" in out
        victim.refresh_from_db()
        assert victim.password == before
        org = Organization.objects.get(slug="hooli")
        assert not Membership.objects.filter(organization=org).exists()
        invitation = Invitation.objects.get(organization=org)
        assert (invitation.email, invitation.role) == ("existing-owner@corp.test", "owner")
    finally:
        connection.set_schema_to_public()
        Organization.objects.filter(slug="hooli").first().delete(force_drop=True)
        User.objects.filter(email="existing-owner@corp.test").delete()
