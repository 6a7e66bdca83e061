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
    assert client.post(URL, {"email": "x@y.test", "role": "staff"}).status_code == 403


def test_anonymous_is_401(acme):
    response = acme.client().get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"


def test_invite_new_and_existing_people(acme):
    client = acme.client("owner")
    response = client.post(URL, {"email": "New@Acme.test", "role": "staff"}, format="json")
    assert response.status_code == 201
    assert response.json()["email"] == "new@acme.test"
    assert not User.objects.get(email="new@acme.test").has_usable_password()
    # A person who already exists elsewhere (globex's manager) joins with their own account.
    response = client.post(URL, {"email": "manager@globex.test", "role": "manager"})
    assert response.status_code == 201
    assert Membership.objects.filter(user__email="manager@globex.test").count() == 2
    duplicate = client.post(URL, {"email": "manager@globex.test", "role": "staff"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "ALREADY_MEMBER"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "bad", "role": "staff"}, "email"),
        ({"email": "a@b.test", "role": "king"}, "role"),
        ({"email": "a@b.test", "role": "staff", "is_staff": True}, "is_staff"),
        ({"email": "a@b.test\x00", "role": "staff"}, "email"),
        ({"email": "a@b.test", "role": "staff", "password": "short"}, "password"),
    ],
)
def test_invite_bad_input_changes_nothing(acme, payload, field):
    before = Membership.objects.count()
    response = acme.client("owner").post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]
    assert Membership.objects.count() == before


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
