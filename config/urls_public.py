"""The platform domain: Django admin for operators, health, metrics."""

from django.conf import settings
from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from core.health import bench_floor
from core.metrics import metrics

from .urls_common import urlpatterns as common

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # Operators' metrics: the platform host only, never an organization's (core.metrics).
    path("metrics", metrics, name="metrics"),
    *common,
]
if settings.BENCH_FLOOR_ENABLED:
    urlpatterns.append(path(settings.BENCH_FLOOR_PATH.strip("/") + "/", bench_floor))

handler400 = "core.exceptions.handler400"
handler403 = "core.exceptions.handler403"
handler404 = "core.exceptions.handler404"
handler500 = "core.exceptions.handler500"
