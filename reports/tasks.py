"""Celery entry points: take JSON arguments, call a service. Retries come from ``acks_late``:
a worker that dies mid-job gets the message redelivered and the service resumes safely."""

from datetime import date

from celery import shared_task

from .choices import ReportKind
from .services import report_generate, reports_dispatch


@shared_task(name="reports.dispatch_reports")
def dispatch_reports() -> int:
    """Beat (public schema): enqueue the due report jobs of every active organization."""
    return len(reports_dispatch())


@shared_task(name="reports.generate_daily", bind=True)
def generate_daily(self, business_date: str) -> int | None:
    """Runs in the tenant schema carried by the message headers."""
    report = report_generate(
        kind=ReportKind.DAILY, period=date.fromisoformat(business_date), job_id=self.request.id
    )
    return report.pk if report else None


@shared_task(name="reports.generate_monthly", bind=True)
def generate_monthly(self, month: str) -> int | None:
    report = report_generate(
        kind=ReportKind.MONTHLY, period=date.fromisoformat(month), job_id=self.request.id
    )
    return report.pk if report else None
