"""Signup on the platform host: the API (under /api/v1/) and the confirmation page."""

from django.urls import include, path

from . import pages, views

api_urlpatterns = [
    path("signup/", views.SignupView.as_view(), name="signup"),
]

page_urlpatterns = [
    path("signup/confirm/", pages.signup_confirm_page, name="signup-confirm-page"),
]

# The platform host's OpenAPI schema documents the signup API only (the admin is no API).
api_schema_urlconf = [path("api/v1/", include(api_urlpatterns))]
