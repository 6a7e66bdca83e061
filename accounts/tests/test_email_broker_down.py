"""Emails queued after commit with the broker unreachable: the request answers at once, the
invitation stays (resendable) and the failure is logged with what was not sent, never a 19 s
wait or a 500 after the commit."""

import logging
import time

from reports.tests.test_broker_down import UNREACHABLE, broker_at


def test_an_invitation_with_the_broker_down_answers_quickly_and_logs_the_lost_email(
    acme, caplog, django_capture_on_commit_callbacks
):
    client = acme.client("owner")
    started = time.monotonic()
    with (
        broker_at(UNREACHABLE),
        caplog.at_level(logging.ERROR, logger="core.jobs"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            "/api/v1/invitations/", {"email": "late@mail.test", "role": "staff"}, format="json"
        )
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.content
    assert elapsed < 5
    lost = [r for r in caplog.records if "was not sent" in r.getMessage()]
    assert len(lost) == 1
    assert f"invitation {response.json()['id']}" in lost[0].getMessage()
    listed = client.get("/api/v1/invitations/").json()["results"]
    assert [i["email"] for i in listed] == ["late@mail.test"]


def test_a_password_reset_with_the_broker_down_is_still_202_quickly(
    acme, caplog, django_capture_on_commit_callbacks
):
    started = time.monotonic()
    with (
        broker_at(UNREACHABLE),
        caplog.at_level(logging.ERROR, logger="core.jobs"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = acme.client().post(
            "/api/v1/auth/password/reset/", {"email": "staff@acme.test"}, format="json"
        )
    assert response.status_code == 202
    assert time.monotonic() - started < 5
    assert any("password reset email was not sent" in r.getMessage() for r in caplog.records)
