"""The operators' admin in headless Chromium against a live server (uvicorn, the production
ASGI app): an operator signs in, approves a signup, adds an organization, suspends it and
schedules its deletion; the platform audit lists each step."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import User
from displays.tests.live import LiveServer
from displays.tests.test_board_browser import CHROMIUM, _wait, browser  # noqa: F401 (fixture)
from organizations.models import Organization, PlatformAuditEvent
from signups.models import SignupApplication, SignupStatus

PORT = 8311
PASSWORD = "operator-pass-4711"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)"
    ),
]


def test_operator_runs_the_lifecycle_in_the_admin(browser, live_db, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    suffix = uuid.uuid4().hex[:6]
    signup_slug, added_slug = f"br-signup-{suffix}", f"br-added-{suffix}"
    email = f"ops-{suffix}@platform.test"
    operator = User.objects.create_superuser(email=email, password=PASSWORD)
    application = SignupApplication.objects.create(
        organization_name="Browser Noodles",
        slug=signup_slug,
        contact_email=f"owner-{suffix}@example.test",
        status=SignupStatus.CONFIRMED,
        token_hash=uuid.uuid4().hex * 2,
        token_expires_at=timezone.now() + timedelta(hours=1),
        confirmed_at=timezone.now(),
    )
    server = LiveServer(PORT, tmp_path).start()
    origin = f"http://{settings.PUBLIC_DOMAIN}:{PORT}"

    def body_text() -> str:
        return browser.find_element(By.TAG_NAME, "body").text

    def run_action(changelist: str, pk: int, action: str) -> str:
        browser.get(f"{origin}{changelist}")
        browser.find_element(
            By.CSS_SELECTOR, f'input[name="_selected_action"][value="{pk}"]'
        ).click()
        Select(browser.find_element(By.NAME, "action")).select_by_value(action)
        browser.find_element(By.CSS_SELECTOR, 'button[name="index"]').click()
        return _wait(
            lambda: browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text,
            message=f"{action} message",
        )

    try:
        browser.get(f"{origin}/admin/login/")
        browser.find_element(By.ID, "id_username").send_keys(email)
        browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        _wait(lambda: "/admin/login/" not in browser.current_url, message="signed in")

        # 1. Approve the signup: the organization is provisioned, the owner invited.
        message = run_action("/admin/signups/signupapplication/", application.pk, "approve")
        assert signup_slug in message.lower()
        approved = Organization.objects.get(slug=signup_slug)
        application.refresh_from_db()
        assert application.status == SignupStatus.APPROVED
        assert approved.invitations.get().role == "owner"

        # 2. Add an organization through the form.
        browser.get(f"{origin}/admin/organizations/organization/add/")
        browser.find_element(By.NAME, "name").send_keys("Browser Added")
        browser.find_element(By.NAME, "slug").send_keys(added_slug)
        browser.find_element(By.NAME, "owner_email").send_keys(f"added-{suffix}@example.test")
        max_screens = browser.find_element(By.NAME, "max_screens")
        max_screens.clear()
        max_screens.send_keys("4")
        browser.find_element(By.CSS_SELECTOR, 'input[name="_save"]').click()
        _wait(lambda: "/change/" in browser.current_url, message="organization created")
        added = Organization.objects.get(slug=added_slug)
        assert added.max_screens == 4

        # 3. Suspend it, 4. schedule its deletion.
        changelist = "/admin/organizations/organization/"
        assert "1" in run_action(changelist, added.pk, "suspend")
        assert "1" in run_action(changelist, added.pk, "schedule_deletion")
        added.refresh_from_db()
        assert not added.is_active and added.deletion_scheduled_at is not None

        # The platform audit lists every step, with the operator as the actor.
        browser.get(f"{origin}/admin/organizations/platformauditevent/?q={suffix}")
        text = _wait(
            lambda: "organization.deletion_schedule" in body_text() and body_text(),
            message="audit rows",
        )
        for action in (
            "signup.approve",
            "organization.create",
            "organization.suspend",
            "organization.deletion_schedule",
        ):
            assert action in text, action
        rows = PlatformAuditEvent.objects.filter(organization_slug__in=[signup_slug, added_slug])
        assert set(rows.values_list("actor_label", flat=True)) == {email}
        assert rows.filter(organization_slug=added_slug).count() == 3
    finally:
        server.stop()
        connection.set_schema_to_public()
        for org in Organization.objects.filter(slug__in=[signup_slug, added_slug]):
            org.delete(force_drop=True)
        SignupApplication.objects.filter(pk=application.pk).delete()
        operator.delete()
