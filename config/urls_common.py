"""Routes served on every host (platform and organizations)."""

from django.urls import path

from core.health import health, ready

urlpatterns = [
    path("health/", health, name="health"),
    path("ready/", ready, name="ready"),
]
