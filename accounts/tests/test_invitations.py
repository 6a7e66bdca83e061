"""Invitations (DESIGN 3): owners invite any role, managers staff only; one-time hashed links;
accept with a new account or with the invited email's existing one; nothing about an account
leaks to the inviting organization."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Invitation, Membership, User
from accounts.selectors import invitation_token_hash
from accounts.services import invitation_create
from testing.orgs import PASSWORD

URL = "/api/v1/invitations/"
PREVIEW_URL = "/api/v1/invitations/preview/"
ACCEPT_URL = "/api/v1/invitations/accept/"
TOKEN_URL = "/api/v1/auth/token/"
NEW_PASSWORD = "a-fresh-Passphrase-42"


def invite(org, email, role="staff", by="owner"):
    """An invitation through the service, returning (invitation, raw token)."""
    issued = invitation_create(
        organization=org.organization, email=email, role=role, invited_by=org.users[by]
    )
    return issued.invitation, issued.token


def login(org, email, password):
    return APIClient(HTTP_HOST=org.host).post(
        TOKEN_URL, {"email": email, "password": password}, format="json"
    )


def accept(org, payload, ip="10.9.0.1"):
    return APIClient(HTTP_HOST=org.host, REMOTE_ADDR=ip).post(ACCEPT_URL, payload, format="json")


# --- Creating --------------------------------------------------------------------------------


def test_owner_invites_and_only_a_hash_of_the_token_is_stored(acme):
    response = acme.client("owner").post(
        URL, {"email": "New.Cook@Example.test", "role": "manager"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["email"], body["role"], body["status"]) == (
        "new.cook@example.test",
        "manager",
        "pending",
    )
    assert body["invited_by"] == "owner@acme.test"
    assert "token" not in body and "token_hash" not in body
    invitation = Invitation.objects.get(pk=body["id"])
    assert len(invitation.token_hash) == 64
    assert timedelta(hours=71) < invitation.expires_at - timezone.now() <= timedelta(hours=72)
    # No account and no membership exist before the invitation is accepted.
    assert not User.objects.filter(email="new.cook@example.test").exists()


def test_the_answer_is_the_same_whether_the_email_has_an_account_or_not(acme, globex):
    User.objects.filter(email="manager@globex.test").update(full_name="Globex Secret Name")
    client = acme.client("owner")
    known = client.post(URL, {"email": "manager@globex.test", "role": "staff"}, format="json")
    unknown = client.post(URL, {"email": "nobody@nowhere.test", "role": "staff"}, format="json")
    assert known.status_code == unknown.status_code == 201
    strip = ("id", "email", "created_at", "expires_at", "last_sent_at")
    assert {k: v for k, v in known.json().items() if k not in strip} == {
        k: v for k, v in unknown.json().items() if k not in strip
    }
    assert "Globex" not in known.content.decode()
    # Membership in globex is untouched and none was created in acme.
    assert not Membership.objects.filter(
        user__email="manager@globex.test", organization=acme.organization
    ).exists()


@pytest.mark.parametrize("role", ["manager", "owner"])
def test_a_manager_may_invite_staff_only(acme, role):
    client = acme.client("manager")
    refused = client.post(URL, {"email": "boss@example.test", "role": role}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "INVITATION_ROLE_FORBIDDEN"
    assert not Invitation.objects.filter(email="boss@example.test").exists()
    allowed = client.post(URL, {"email": "cook@example.test", "role": "staff"}, format="json")
    assert allowed.status_code == 201


def test_staff_cannot_invite_or_list(acme):
    client = acme.client("staff")
    assert client.post(URL, {"email": "x@example.test", "role": "staff"}).status_code == 403
    assert client.get(URL).status_code == 403


def test_anonymous_is_401(acme):
    assert acme.client().get(URL).status_code == 401


def test_inviting_a_member_or_a_pending_email_is_409(acme):
    client = acme.client("owner")
    member = client.post(URL, {"email": "staff@acme.test", "role": "staff"}, format="json")
    assert member.status_code == 409
    assert member.json()["error"]["code"] == "ALREADY_MEMBER"
    first = client.post(URL, {"email": "twice@example.test", "role": "staff"}, format="json")
    again = client.post(URL, {"email": "TWICE@example.test", "role": "manager"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "INVITATION_PENDING"
    assert again.json()["error"]["details"]["invitation_id"] == first.json()["id"]


def test_an_expired_invitation_does_not_block_a_new_one(acme):
    old, _token = invite(acme, "late@example.test")
    Invitation.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = acme.client("owner").post(
        URL, {"email": "late@example.test", "role": "staff"}, format="json"
    )
    assert response.status_code == 201
    old.refresh_from_db()
    assert old.status == "revoked"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "bad", "role": "staff"}, "email"),
        ({"email": "a@b.test", "role": "king"}, "role"),
        ({"email": "a@b.test", "role": "staff", "password": "chosen-1234"}, "password"),
        ({"email": "a@b.test", "role": "staff", "full_name": "X"}, "full_name"),
    ],
)
def test_bad_input_is_400_and_invites_nobody(acme, payload, field):
    response = acme.client("owner").post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]
    assert not Invitation.objects.filter(organization=acme.organization).exists()


# --- Listing, revoking, resending --------------------------------------------------------------


def test_list_filters_by_status_and_managers_see_staff_invitations_only(acme):
    pending, _t = invite(acme, "p@example.test")
    revoked, _t = invite(acme, "r@example.test")
    Invitation.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    manager_inv, _t = invite(acme, "m@example.test", role="manager")
    owner = acme.client("owner")
    everything = owner.get(URL).json()
    assert everything["count"] == 3
    only_pending = owner.get(URL, {"status": "pending"}).json()["results"]
    assert {i["email"] for i in only_pending} == {"p@example.test", "m@example.test"}
    assert [i["id"] for i in owner.get(URL, {"status": "revoked"}).json()["results"]] == [
        revoked.pk
    ]
    assert owner.get(URL, {"status": "bogus"}).status_code == 400
    manager = acme.client("manager")
    assert {i["email"] for i in manager.get(URL).json()["results"]} == {
        "p@example.test",
        "r@example.test",
    }
    assert manager.get(f"{URL}{manager_inv.pk}/").status_code == 404
    assert manager.delete(f"{URL}{manager_inv.pk}/").status_code == 404
    assert owner.get(f"{URL}{pending.pk}/").json()["status"] == "pending"


def test_another_organization_cannot_see_revoke_or_resend(acme, globex):
    invitation, token = invite(acme, "cross@example.test")
    client = globex.client("owner")
    assert invitation.pk not in [i["id"] for i in client.get(URL).json()["results"]]
    for response in (
        client.get(f"{URL}{invitation.pk}/"),
        client.delete(f"{URL}{invitation.pk}/"),
        client.post(f"{URL}{invitation.pk}/resend/"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
    invitation.refresh_from_db()
    assert invitation.status == "pending" and invitation.send_count == 1
    # Nor can its host preview or accept acme's token.
    assert APIClient(HTTP_HOST=globex.host).get(PREVIEW_URL, {"token": token}).status_code == 404
    response = accept(globex, {"token": token, "password": NEW_PASSWORD, "full_name": "X"})
    assert response.status_code == 404
    assert not User.objects.filter(email="cross@example.test").exists()


def test_revoke_kills_the_link(acme):
    invitation, token = invite(acme, "gone@example.test")
    assert acme.client("owner").delete(f"{URL}{invitation.pk}/").status_code == 204
    assert acme.client("owner").delete(f"{URL}{invitation.pk}/").status_code == 204  # idempotent
    preview = APIClient(HTTP_HOST=acme.host).get(PREVIEW_URL, {"token": token})
    assert preview.status_code == 404
    assert preview.json()["error"]["code"] == "INVITATION_NOT_FOUND"
    response = accept(acme, {"token": token, "password": NEW_PASSWORD, "full_name": "Gone"})
    assert response.status_code == 404
    assert not User.objects.filter(email="gone@example.test").exists()


def test_resend_issues_a_new_link_and_the_old_one_dies(acme):
    invitation, old_token = invite(acme, "again@example.test")
    Invitation.objects.filter(pk=invitation.pk).update(
        last_sent_at=timezone.now() - timedelta(minutes=5)
    )
    client = acme.client("owner")
    response = client.post(f"{URL}{invitation.pk}/resend/")
    assert response.status_code == 200, response.content
    assert response.json()["send_count"] == 2
    invitation.refresh_from_db()
    assert invitation.token_hash != invitation_token_hash(old_token)
    anonymous = APIClient(HTTP_HOST=acme.host)
    assert anonymous.get(PREVIEW_URL, {"token": old_token}).status_code == 404
    # Right after a send, another one waits for the cooldown.
    too_soon = client.post(f"{URL}{invitation.pk}/resend/")
    assert too_soon.status_code == 429
    assert too_soon.json()["error"]["code"] == "INVITATION_RESEND_TOO_SOON"
    assert int(too_soon["Retry-After"]) > 0


def test_resend_stops_at_the_send_limit(acme, settings):
    invitation, _token = invite(acme, "spam@example.test")
    Invitation.objects.filter(pk=invitation.pk).update(
        send_count=settings.INVITATION_MAX_SENDS, last_sent_at=timezone.now() - timedelta(hours=1)
    )
    response = acme.client("owner").post(f"{URL}{invitation.pk}/resend/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "INVITATION_SEND_LIMIT"


# --- Preview and accept ----------------------------------------------------------------------


def test_preview_shows_the_organization_role_and_a_masked_email_without_auth(acme):
    _invitation, token = invite(acme, "jane.doe@corp.test", role="manager")
    response = APIClient(HTTP_HOST=acme.host).get(PREVIEW_URL, {"token": token})
    assert response.status_code == 200
    body = response.json()
    assert body["organization"] == "Acme"
    assert body["role"] == "manager"
    assert body["status"] == "pending"
    assert body["email"] == "j******e@corp.test"


@pytest.mark.parametrize("token", ["", "x", "not-a-real-token-" * 3, "a" * 500])
def test_preview_of_a_bad_token_is_404_in_the_envelope(acme, token):
    response = APIClient(HTTP_HOST=acme.host).get(PREVIEW_URL, {"token": token})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "INVITATION_NOT_FOUND"


def test_expired_token_is_refused(acme):
    invitation, token = invite(acme, "slow@example.test")
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    assert APIClient(HTTP_HOST=acme.host).get(PREVIEW_URL, {"token": token}).status_code == 404
    response = accept(acme, {"token": token, "password": NEW_PASSWORD, "full_name": "Slow"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "INVITATION_NOT_FOUND"


def test_accept_with_a_new_account_then_log_in(acme):
    _invitation, token = invite(acme, "newbie@example.test", role="manager")
    response = accept(acme, {"token": token, "password": NEW_PASSWORD, "full_name": "New Bie"})
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "manager"
    user = User.objects.get(email="newbie@example.test")
    assert user.full_name == "New Bie"
    assert user.check_password(NEW_PASSWORD)
    access = response.json()["access"]
    me = APIClient(HTTP_HOST=acme.host, HTTP_AUTHORIZATION=f"Bearer {access}").get(
        "/api/v1/auth/me/"
    )
    assert me.json()["email"] == "newbie@example.test"
    assert login(acme, "newbie@example.test", NEW_PASSWORD).status_code == 200
    # One-time: the same link does nothing any more.
    again = accept(acme, {"token": token, "password": "other-Passphrase-43", "full_name": "X"})
    assert again.status_code == 404
    assert APIClient(HTTP_HOST=acme.host).get(PREVIEW_URL, {"token": token}).status_code == 404


def test_new_account_password_goes_through_django_validators(acme):
    _invitation, token = invite(acme, "weak@example.test")
    for password in ("short", "password123"):
        response = accept(acme, {"token": token, "password": password, "full_name": "W"})
        assert response.status_code == 400
        assert "password" in response.json()["error"]["details"]["fields"]
    assert not User.objects.filter(email="weak@example.test").exists()
    # The failed attempts did not use the link up.
    assert APIClient(HTTP_HOST=acme.host).get(PREVIEW_URL, {"token": token}).status_code == 200


def test_new_account_mode_for_an_existing_email_changes_nothing(acme, globex):
    before = User.objects.get(email="manager@globex.test").password
    _invitation, token = invite(acme, "manager@globex.test")
    response = accept(acme, {"token": token, "password": NEW_PASSWORD, "full_name": "Mallory"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ACCOUNT_EXISTS"
    user = User.objects.get(email="manager@globex.test")
    assert user.password == before and user.full_name != "Mallory"
    assert not Membership.objects.filter(user=user, organization=acme.organization).exists()


def test_accept_with_an_existing_account_and_its_own_password(acme, globex):
    invitation, token = invite(acme, "manager@globex.test", role="staff")
    wrong = accept(acme, {"token": token, "password": "not-the-password"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "INVALID_CREDENTIALS"
    mismatch = accept(acme, {"token": token, "password": PASSWORD, "email": "x@example.test"})
    assert mismatch.json()["error"]["code"] == "INVITATION_EMAIL_MISMATCH"
    response = accept(acme, {"token": token, "password": PASSWORD, "email": "Manager@Globex.test"})
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "staff"
    user = User.objects.get(email="manager@globex.test")
    assert Membership.objects.get(user=user, organization=acme.organization).role == "staff"
    # The globex membership and role are untouched.
    assert Membership.objects.get(user=user, organization=globex.organization).role == "manager"
    invitation.refresh_from_db()
    assert invitation.status == "accepted" and invitation.accepted_by_id == user.pk
    assert login(acme, "manager@globex.test", PASSWORD).status_code == 200


def test_accept_with_an_existing_account_is_under_the_login_lockout(acme, globex):
    _invitation, token = invite(acme, "staff@globex.test")
    for _ in range(5):
        assert accept(acme, {"token": token, "password": "guess-guess"}).status_code == 401
    locked = accept(acme, {"token": token, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "LOGIN_LOCKED"
    assert not Membership.objects.filter(
        user__email="staff@globex.test", organization=acme.organization
    ).exists()


# --- Issue 12, defect 1: pre-claimed accounts -----------------------------------------------


def test_an_organization_cannot_pre_claim_an_account_for_another(acme, globex):
    """A invites victim@ first; B invites the same email later. Nothing A did creates an
    account or a password: the victim sets their own when accepting B's invitation, and no
    password A could have chosen logs in anywhere."""
    acme.client("owner").post(URL, {"email": "victim@corp.test", "role": "manager"})
    assert not User.objects.filter(email="victim@corp.test").exists()
    _invitation, token = invite(globex, "victim@corp.test", role="manager")
    accepted = accept(
        globex, {"token": token, "password": "victims-own-Secret-9", "full_name": "Victim"}
    )
    assert accepted.status_code == 200
    assert login(globex, "victim@corp.test", "victims-own-Secret-9").status_code == 200
    for guess in ("chosen-by-acme", PASSWORD):
        assert login(globex, "victim@corp.test", guess).status_code == 401
    # Acme's own pending invitation gives acme no access to the account either.
    assert login(acme, "victim@corp.test", "victims-own-Secret-9").status_code == 401
