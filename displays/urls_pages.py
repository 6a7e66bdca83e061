"""Pages served on an organization's host outside the API (mounted at /display/)."""

from django.urls import path

from .views import BoardView

urlpatterns = [path("", BoardView.as_view(), name="display-board")]
