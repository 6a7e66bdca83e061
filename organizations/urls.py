from django.urls import path

from . import views

urlpatterns = [
    path("organization/", views.OrganizationSettingsView.as_view(), name="organization-settings"),
    path(
        "organization/deletion/",
        views.OrganizationDeletionView.as_view(),
        name="organization-deletion",
    ),
]
