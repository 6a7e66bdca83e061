def test_me_answers_user_and_role(acme):
    response = acme.client("manager").get("/api/v1/auth/me/")
    assert response.status_code == 200
    assert response.json()["role"] == "manager"
    assert response.json()["organization"]["slug"] == "acme"
