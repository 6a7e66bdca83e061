"""An organization's host: the REST API, its schema and docs, the display page."""

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from .urls_common import urlpatterns as common

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("organizations.urls")),
    path("", include("agents.urls")),
    path("", include("tasks.urls")),
    path("", include("displays.urls")),
    path("", include("reports.urls")),
    path("", include("audit.urls")),
    path("", include("exports.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path(
        "api/redoc/",
        # Same page without the Google Fonts links of the stock template (offline docs).
        SpectacularRedocView.as_view(url_name="schema", template_name="docs/redoc.html"),
        name="redoc",
    ),
    path("display/", include("displays.urls_pages")),
    path("accounts/", include("accounts.urls_pages")),
    *common,
]

handler400 = "core.exceptions.handler400"
handler403 = "core.exceptions.handler403"
handler404 = "core.exceptions.handler404"
handler500 = "core.exceptions.handler500"
