"""Pages served on an organization's host outside the API (mounted at /accounts/): where the
links in invitation and password reset emails lead."""

from django.urls import path

from . import pages

urlpatterns = [
    path(
        "invitations/accept/",
        pages.invitation_accept_page,
        name="accounts-invitation-accept-page",
    ),
    path("password/reset/", pages.password_reset_page, name="accounts-password-reset-page"),
]
