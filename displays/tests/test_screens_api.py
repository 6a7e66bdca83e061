import pytest

from displays.models import Screen
from displays.services import screen_token_hash
from testing.factories import category_make

URL = "/api/v1/screens/"


@pytest.fixture
def category(acme):
    with acme.active():
        return category_make(name="Hot", sort_order=1)


def _count(org) -> int:
    with org.active():
        return Screen.objects.count()


def _create(org, **body):
    response = org.client("manager").post(URL, {"name": "Pass", **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


class TestAuth:
    def test_anonymous_is_401(self, acme):
        assert acme.client().get(URL).status_code == 401
        assert acme.client().post(URL, {"name": "x"}, format="json").status_code == 401

    def test_staff_is_403(self, acme):
        for response in (
            acme.client("staff").get(URL),
            acme.client("staff").post(URL, {"name": "x"}, format="json"),
        ):
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "PERMISSION_DENIED"
        assert _count(acme) == 0

    def test_token_of_other_organization_is_401(self, acme, globex):
        client = acme.client()
        client.credentials(
            HTTP_AUTHORIZATION=globex.client("owner")._credentials["HTTP_AUTHORIZATION"]
        )
        assert client.get(URL).status_code == 401

    def test_screen_token_is_not_an_api_credential(self, acme):
        token = _create(acme)["token"]
        client = acme.client()
        client.credentials(HTTP_AUTHORIZATION=f"Screen {token}")
        assert client.get(URL).status_code == 401


class TestCreate:
    def test_create_returns_token_once_and_stores_only_its_hash(self, acme, category):
        body = _create(acme, station=[category.pk])
        assert body["station"] == [category.pk]
        assert body["is_active"] is True
        assert body["created_by"] == "manager@acme.test"
        token = body["token"]
        assert len(token) >= 40
        with acme.active():
            screen = Screen.objects.get(pk=body["id"])
        assert screen.token_hash == screen_token_hash(token)
        assert token not in screen.token_hash
        detail = acme.client("manager").get(f"{URL}{body['id']}/").json()
        assert "token" not in detail and "token_hash" not in detail

    def test_empty_station_means_all(self, acme):
        assert _create(acme)["station"] == []

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"station": [999999]}, "station"),
            ({"station": "hot"}, "station"),
            ({"station": [0]}, "station"),
            ({"name": ""}, "name"),
            ({"name": "x" * 101}, "name"),
            ({"token": "chosen"}, "token"),
        ],
    )
    def test_bad_input_is_400_naming_the_field(self, acme, body, field):
        response = acme.client("manager").post(URL, {"name": "Pass", **body}, format="json")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert field in error["details"]["fields"]
        assert _count(acme) == 0

    def test_plan_limit(self, acme, restore_org):
        acme.organization.max_screens = 2
        acme.organization.save(update_fields=["max_screens"])
        _create(acme)
        second = _create(acme)
        response = acme.client("manager").post(URL, {"name": "third"}, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "PLAN_LIMIT_REACHED"
        assert _count(acme) == 2
        # A revoked screen frees its slot.
        acme.client("manager").post(f"{URL}{second['id']}/revoke/")
        assert acme.client("manager").post(URL, {"name": "third"}, format="json").status_code == 201


class TestListRetrieveUpdate:
    def test_list_query_count_does_not_grow(self, acme, django_assert_max_num_queries):
        for index in range(6):
            _create(acme, name=f"S{index}")
        client = acme.client("manager")
        with django_assert_max_num_queries(6):
            response = client.get(URL, {"page_size": 5})
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 6 and len(body["results"]) == 5
        assert all("token" not in row for row in body["results"])

    def test_filter_active(self, acme):
        first = _create(acme, name="A")
        _create(acme, name="B")
        acme.client("manager").post(f"{URL}{first['id']}/revoke/")
        names = [
            s["name"]
            for s in acme.client("manager").get(URL, {"is_active": "true"}).json()["results"]
        ]
        assert names == ["B"]

    def test_other_organization_screen_is_404(self, acme, globex):
        screen = _create(globex)
        client = acme.client("manager")
        for response in (
            client.get(f"{URL}{screen['id']}/"),
            client.patch(f"{URL}{screen['id']}/", {"name": "x"}, format="json"),
            client.post(f"{URL}{screen['id']}/rotate-token/"),
            client.post(f"{URL}{screen['id']}/revoke/"),
            client.delete(f"{URL}{screen['id']}/"),
        ):
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "SCREEN_NOT_FOUND"
        with globex.active():
            assert Screen.objects.get(pk=screen["id"]).is_active

    def test_update_name_and_station(self, acme, category):
        screen = _create(acme)
        response = acme.client("owner").patch(
            f"{URL}{screen['id']}/", {"name": "Bar", "station": [category.pk]}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["name"] == "Bar"
        assert response.json()["station"] == [category.pk]

    def test_update_bad_station_is_400_and_changes_nothing(self, acme):
        screen = _create(acme)
        response = acme.client("manager").patch(
            f"{URL}{screen['id']}/", {"name": "New", "station": [424242]}, format="json"
        )
        assert response.status_code == 400
        assert "station" in response.json()["error"]["details"]["fields"]
        assert acme.client("manager").get(f"{URL}{screen['id']}/").json()["name"] == "Pass"

    def test_update_unknown_field_is_400(self, acme):
        screen = _create(acme)
        response = acme.client("manager").patch(
            f"{URL}{screen['id']}/", {"is_active": False}, format="json"
        )
        assert response.status_code == 400
        assert "is_active" in response.json()["error"]["details"]["fields"]

    def test_staff_cannot_update(self, acme):
        screen = _create(acme)
        response = acme.client("staff").patch(f"{URL}{screen['id']}/", {"name": "x"}, format="json")
        assert response.status_code == 403


class TestRotateAndRevoke:
    def test_rotate_gives_a_new_token_and_kills_the_old(self, acme):
        screen = _create(acme)
        response = acme.client("manager").post(f"{URL}{screen['id']}/rotate-token/")
        assert response.status_code == 200
        new_token = response.json()["token"]
        assert new_token != screen["token"]
        with acme.active():
            assert Screen.objects.get(pk=screen["id"]).token_hash == screen_token_hash(new_token)

    def test_revoke(self, acme):
        screen = _create(acme)
        response = acme.client("manager").post(f"{URL}{screen['id']}/revoke/")
        assert response.status_code == 200
        assert response.json()["is_active"] is False
        assert response.json()["revoked_at"]
        rotate = acme.client("manager").post(f"{URL}{screen['id']}/rotate-token/")
        assert rotate.status_code == 409
        assert rotate.json()["error"]["code"] == "SCREEN_REVOKED"

    def test_delete_revokes(self, acme):
        screen = _create(acme)
        assert acme.client("manager").delete(f"{URL}{screen['id']}/").status_code == 204
        with acme.active():
            assert Screen.objects.get(pk=screen["id"]).is_active is False

    def test_staff_cannot_rotate_or_revoke(self, acme):
        screen = _create(acme)
        assert acme.client("staff").post(f"{URL}{screen['id']}/rotate-token/").status_code == 403
        assert acme.client("staff").post(f"{URL}{screen['id']}/revoke/").status_code == 403
        assert acme.client("staff").delete(f"{URL}{screen['id']}/").status_code == 403
