"""Owner-only member management, with the last-owner rule."""

import pytest

from accounts.models import Membership, User

URL = "/api/v1/members/"


def test_owner_lists_members_of_this_org_only(acme, django_assert_max_num_queries):
    client = acme.client("owner")
    # Two search_path SETs, tenant lookup, membership+user, count, page: constant in page size.
    with django_assert_max_num_queries(6):
        response = client.get(URL)
    assert response.status_code == 200
    emails = {m["email"] for m in response.json()["results"]}
    assert emails == {"owner@acme.test", "manager@acme.test", "staff@acme.test", "both@multi.test"}


@pytest.mark.parametrize("role", ["manager", "staff"])
def test_non_owners_are_403(acme, role):
    client = acme.client(role)
    response = client.get(URL)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    staff = Membership.objects.get(user__email="staff@acme.test")
    assert client.patch(f"{URL}{staff.pk}/", {"role": "owner"}, format="json").status_code == 403


def test_anonymous_is_401(acme):
    response = acme.client().get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"


def test_members_endpoint_creates_no_account_and_sets_no_password(acme, globex):
    """Issue 12, defect 1: an owner could create an account with a password they chose (and
    read another organization's ``full_name`` back). People join by invitation only now."""
    User.objects.filter(email="manager@globex.test").update(full_name="Globex Private Name")
    client = acme.client("owner")
    for payload in (
        {"email": "victim@corp.test", "role": "manager", "password": "chosen-by-owner-1"},
        {"email": "manager@globex.test", "role": "manager"},
    ):
        response = client.post(URL, payload, format="json")
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        assert "Globex Private Name" not in response.content.decode()
    assert not User.objects.filter(email="victim@corp.test").exists()
    assert not Membership.objects.filter(
        user__email="manager@globex.test", organization=acme.organization
    ).exists()
    listed = client.get(URL).json()["results"]
    assert "Globex Private Name" not in {m["full_name"] for m in listed}


def test_change_role_and_remove(acme):
    client = acme.client("owner")
    staff = Membership.objects.get(user__email="staff@acme.test")
    response = client.patch(f"{URL}{staff.pk}/", {"role": "manager"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "manager"
    assert client.delete(f"{URL}{staff.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=staff.pk).exists()


def test_last_owner_cannot_be_removed_or_demoted(acme):
    Membership.objects.filter(user__email="both@multi.test", organization=acme.organization).update(
        role="manager"
    )
    client = acme.client("owner")
    owner = Membership.objects.get(user__email="owner@acme.test")
    demote = client.patch(f"{URL}{owner.pk}/", {"role": "staff"}, format="json")
    assert demote.status_code == 409
    assert demote.json()["error"]["code"] == "LAST_OWNER"
    remove = client.delete(f"{URL}{owner.pk}/")
    assert remove.status_code == 409
    assert Membership.objects.get(pk=owner.pk).role == "owner"


def test_second_owner_can_be_removed(acme):
    both = Membership.objects.get(user__email="both@multi.test", organization=acme.organization)
    assert acme.client("owner").delete(f"{URL}{both.pk}/").status_code == 204


def test_other_orgs_membership_is_404(acme, globex):
    foreign = Membership.objects.get(user__email="staff@globex.test")
    client = acme.client("owner")
    for response in (
        client.get(f"{URL}{foreign.pk}/"),
        client.patch(f"{URL}{foreign.pk}/", {"role": "owner"}, format="json"),
        client.delete(f"{URL}{foreign.pk}/"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert Membership.objects.get(pk=foreign.pk).role == "staff"
