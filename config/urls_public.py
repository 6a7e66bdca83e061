"""The platform domain: Django admin for operators, signup, health, metrics."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from core.health import bench_floor
from core.metrics import metrics
from organizations.admin_fleet import fleet_view
from signups import urls as signup_urls

from .urls_common import urlpatterns as common

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # The operators' fleet page, inside the admin (its login and staff check).
    path("admin/fleet/", admin.site.admin_view(fleet_view), name="admin-fleet"),
    path("admin/", admin.site.urls),
    # Signup (DESIGN 12): the API, the page its confirmation link opens, and their schema.
    path("api/v1/", include(signup_urls.api_urlpatterns)),
    path("", include(signup_urls.page_urlpatterns)),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(urlconf=signup_urls.api_schema_urlconf),
        name="platform-schema",
    ),
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
