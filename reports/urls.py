from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("reports/daily", views.DailyReportViewSet, basename="daily-report")
router.register("reports/monthly", views.MonthlyReportViewSet, basename="monthly-report")
router.register("reports/jobs", views.ReportJobViewSet, basename="report-job")

urlpatterns = [
    path("reports/dashboard/", views.DashboardView.as_view(), name="reports-dashboard"),
    *router.urls,
]
