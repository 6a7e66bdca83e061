"""The pages the emailed links open (accept an invitation, set a new password): plain Django
forms on the organization's host, CSRF-protected, in the request's language, calling the same
services as the API."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Invitation, Membership, User
from accounts.services import invitation_create
from testing.orgs import PASSWORD

ACCEPT_PAGE = "/accounts/invitations/accept/"
RESET_PAGE = "/accounts/password/reset/"


def csrf_client(org, **headers) -> Client:
    return Client(enforce_csrf_checks=True, HTTP_HOST=org.host, **headers)


def csrf_token_of(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())[1]


def invite(org, email, role="staff"):
    issued = invitation_create(organization=org.organization, email=email, role=role)
    return issued.invitation, issued.token


def test_accept_page_new_account_with_csrf(acme):
    invitation, token = invite(acme, "page.user@example.test", role="manager")
    client = csrf_client(acme)
    page = client.get(ACCEPT_PAGE, {"token": token})
    assert page.status_code == 200
    html = page.content.decode()
    assert '<meta name="viewport"' in html
    assert "Acme" in html and "p*******r@example.test" in html
    assert "no-store" in page["Cache-Control"] and page["Referrer-Policy"] == "no-referrer"
    form = {
        "token": token,
        "mode": "new",
        "full_name": "Page User",
        "password": "page-Secret-123",
        "password2": "page-Secret-123",
    }
    # Without the CSRF token the form is refused and nothing is created.
    assert client.post(ACCEPT_PAGE, form).status_code == 403
    assert not User.objects.filter(email="page.user@example.test").exists()
    done = client.post(ACCEPT_PAGE, {**form, "csrfmiddlewaretoken": csrf_token_of(page)})
    assert done.status_code == 200, done.content.decode()[:2000]
    assert "You have joined Acme" in done.content.decode()
    user = User.objects.get(email="page.user@example.test")
    assert user.check_password("page-Secret-123") and user.full_name == "Page User"
    assert Membership.objects.get(user=user, organization=acme.organization).role == "manager"
    invitation.refresh_from_db()
    assert invitation.status == "accepted"
    # The link is used up.
    assert client.get(ACCEPT_PAGE, {"token": token}).status_code == 404


def test_accept_page_shows_validation_errors_on_the_form(acme):
    _invitation, token = invite(acme, "weak.page@example.test")
    client = csrf_client(acme)
    page = client.get(ACCEPT_PAGE, {"token": token})
    response = client.post(
        ACCEPT_PAGE,
        {
            "csrfmiddlewaretoken": csrf_token_of(page),
            "token": token,
            "mode": "new",
            "full_name": "Weak",
            "password": "password",
            "password2": "password",
        },
    )
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert not User.objects.filter(email="weak.page@example.test").exists()


def test_accept_page_for_an_existing_account_asks_for_its_own_password(acme, globex):
    _invitation, token = invite(acme, "staff@globex.test")
    client = csrf_client(acme)
    page = client.get(ACCEPT_PAGE, {"token": token})
    csrf = csrf_token_of(page)
    # Choosing "new account" for an address that has one changes nothing and switches the form.
    switched = client.post(
        ACCEPT_PAGE,
        {
            "csrfmiddlewaretoken": csrf,
            "token": token,
            "mode": "new",
            "full_name": "Mallory",
            "password": "mallory-Secret-1",
            "password2": "mallory-Secret-1",
        },
    )
    assert switched.status_code == 409
    assert 'name="mode" value="existing"' in switched.content.decode()
    assert User.objects.get(email="staff@globex.test").check_password(PASSWORD)
    wrong = client.post(
        ACCEPT_PAGE,
        {"csrfmiddlewaretoken": csrf, "token": token, "mode": "existing", "password": "nope"},
    )
    assert wrong.status_code == 401
    done = client.post(
        ACCEPT_PAGE,
        {"csrfmiddlewaretoken": csrf, "token": token, "mode": "existing", "password": PASSWORD},
    )
    assert done.status_code == 200
    assert Membership.objects.filter(
        user__email="staff@globex.test", organization=acme.organization
    ).exists()


@pytest.mark.parametrize("token", ["", "nope", "x" * 300])
def test_accept_page_with_a_bad_token_is_404(acme, token):
    response = csrf_client(acme).get(ACCEPT_PAGE, {"token": token})
    assert response.status_code == 404
    assert "Link not valid" in response.content.decode()


def test_accept_page_of_another_organizations_token_is_404(acme, globex):
    _invitation, token = invite(acme, "elsewhere@example.test")
    assert csrf_client(globex).get(ACCEPT_PAGE, {"token": token}).status_code == 404
    assert Invitation.objects.get(email="elsewhere@example.test").status == "pending"


def test_reset_page_sets_a_new_password_once(acme):
    user = acme.users["staff"]
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    client = csrf_client(acme)
    page = client.get(RESET_PAGE, {"uid": uid, "token": token})
    assert page.status_code == 200
    mismatch = client.post(
        RESET_PAGE,
        {
            "csrfmiddlewaretoken": csrf_token_of(page),
            "uid": uid,
            "token": token,
            "new_password": "reset-Page-Secret-1",
            "new_password2": "something-else-2",
        },
    )
    assert mismatch.status_code == 400
    done = client.post(
        RESET_PAGE,
        {
            "csrfmiddlewaretoken": csrf_token_of(page),
            "uid": uid,
            "token": token,
            "new_password": "reset-Page-Secret-1",
            "new_password2": "reset-Page-Secret-1",
        },
    )
    assert done.status_code == 200
    assert User.objects.get(pk=user.pk).check_password("reset-Page-Secret-1")
    assert client.get(RESET_PAGE, {"uid": uid, "token": token}).status_code == 404


def test_pages_follow_accept_language(acme):
    _invitation, token = invite(acme, "lang.page@example.test")
    chinese = csrf_client(acme, HTTP_ACCEPT_LANGUAGE="zh-hans").get(ACCEPT_PAGE, {"token": token})
    assert '<html lang="zh-hans">' in chinese.content.decode()
    english = csrf_client(acme, HTTP_ACCEPT_LANGUAGE="en").get(ACCEPT_PAGE, {"token": token})
    assert '<html lang="en">' in english.content.decode()
    assert "Accept the invitation" in english.content.decode()


_CATALOG = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"


@pytest.mark.xfail(
    not _CATALOG.exists(),
    reason="the zh-Hans catalog (locale/, a separate translation task) is not there yet",
    strict=False,
)
def test_pages_in_zh_hans_show_chinese_text(acme):
    _invitation, token = invite(acme, "zh.page@example.test")
    page = csrf_client(acme, HTTP_ACCEPT_LANGUAGE="zh-hans").get(ACCEPT_PAGE, {"token": token})
    text = page.content.decode()
    assert re.search(r"[\u4e00-\u9fff]", text.replace("Acme", ""))
    assert "Accept the invitation" not in text
