"""Routes served on every host (platform and organizations)."""

from django.urls import path
from django_prometheus import exports

from core.health import health, ready

urlpatterns = [
    path("health/", health, name="health"),
    path("ready/", ready, name="ready"),
    path("metrics", exports.ExportToDjangoView, name="metrics"),
]
