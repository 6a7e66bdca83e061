def test_every_member_reads_settings(acme):
    response = acme.client("staff").get("/api/v1/organization/")
    assert response.status_code == 200
    body = response.json()
    assert body["timezone"] == "Asia/Shanghai"
    assert body["business_day_start"] == "05:00:00"
    assert body["peak_windows"] == [["11:00", "14:00"], ["17:00", "21:00"]]
    assert body["currency"] == "CNY"


def test_owner_changes_settings(acme):
    response = acme.client("owner").patch(
        "/api/v1/organization/",
        {"timezone": "Europe/Paris", "peak_windows": [["12:00", "14:30"]]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["timezone"] == "Europe/Paris"


def test_manager_cannot_change_settings(acme):
    response = acme.client("manager").patch(
        "/api/v1/organization/", {"timezone": "Europe/Paris"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"


def test_anonymous_cannot_read_settings(acme):
    assert acme.client().get("/api/v1/organization/").status_code == 401


def test_bad_settings_are_rejected_and_change_nothing(acme):
    client = acme.client("owner")
    for payload, field in [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"peak_windows": [["14:00", "11:00"]]}, "peak_windows"),
        ({"peak_windows": "lunch"}, "peak_windows"),
        ({"currency": "yuan"}, "currency"),
        ({"is_active": False}, "is_active"),
        ({"task_expiry_minutes": 0}, "task_expiry_minutes"),
    ]:
        response = client.patch("/api/v1/organization/", payload, format="json")
        assert response.status_code == 400, payload
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
        assert field in response.json()["error"]["details"]["fields"]
    assert client.get("/api/v1/organization/").json()["timezone"] == "Asia/Shanghai"


def test_settings_of_one_org_are_not_visible_on_another(acme, globex):
    acme.client("owner").patch("/api/v1/organization/", {"currency": "EUR"}, format="json")
    assert globex.client("owner").get("/api/v1/organization/").json()["currency"] == "CNY"
