"""The reports API: roles, tenancy, validation, download, regenerate, jobs, dashboard."""

import io
import uuid
from datetime import date, timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from agents.models import Agent
from organizations.business_day import business_date
from reports.choices import JobStatus, ReportKind, ReportStatus
from reports.models import DailyReport, MonthlyReport, ReportJob
from reports.services import report_generate
from testing.factories import TaskSpec, at, tasks_bulk

from .conftest import known_history

D = date(2026, 1, 14)
DAILY = "/api/v1/reports/daily/"
MONTHLY = "/api/v1/reports/monthly/"
DASHBOARD = "/api/v1/reports/dashboard/"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _error_fields(response) -> set[str]:
    body = response.json()["error"]
    assert body["code"] == "VALIDATION_ERROR"
    return set(body["details"]["fields"])


@pytest.fixture
def acme_day(acme, media):
    known_history(acme)
    return report_generate(kind=ReportKind.DAILY, period=D)


@pytest.fixture
def globex_day(globex, media):
    with globex.active():
        known_history(globex)
        # The acme rows of the test (if any) must not share the id: acme makes none before this.
        return report_generate(kind=ReportKind.DAILY, period=D)


# --- roles --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        DAILY,
        MONTHLY,
        f"{DASHBOARD}?from=2026-01-01&to=2026-01-02",
        f"{DAILY}1/",
        f"{DAILY}1/download/",
    ],
)
def test_anonymous_is_401_and_staff_403(acme, path):
    assert acme.client().get(path).status_code == 401
    response = acme.client("staff").get(path)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"


def test_staff_cannot_regenerate(acme):
    response = acme.client("staff").post(f"{DAILY}regenerate/", {"date": "2026-01-14"})
    assert response.status_code == 403
    assert acme.client().post(f"{DAILY}regenerate/", {"date": "2026-01-14"}).status_code == 401
    assert not ReportJob.objects.exists()


# --- list / detail / download ---------------------------------------------------------------


def test_list_and_detail(acme, acme_day):
    for role in ("manager", "owner"):
        response = acme.client(role).get(DAILY)
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 1
        row = body["results"][0]
        assert row["business_date"] == "2026-01-14"
        assert row["status"] == ReportStatus.READY
        assert row["download_url"] == f"{DAILY}{acme_day.pk}/download/"
        assert "metrics" not in row
    detail = acme.client("manager").get(f"{DAILY}{acme_day.pk}/").json()
    assert detail["metrics"]["revenue"] == "143.50"
    assert detail["metrics"]["tasks_total"] == 7


def test_list_filters_by_date_range(acme, media):
    for day in (date(2026, 1, 1), date(2026, 1, 10), date(2026, 1, 20)):
        DailyReport.objects.create(business_date=day)
    client = acme.client("manager")
    got = client.get(f"{DAILY}?from=2026-01-05&to=2026-01-20").json()
    assert [r["business_date"] for r in got["results"]] == ["2026-01-20", "2026-01-10"]
    got = client.get(f"{DAILY}?to=2026-01-09").json()
    assert [r["business_date"] for r in got["results"]] == ["2026-01-01"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-02-01&to=2026-01-01", "to"),
        ("from=2024-01-01&to=2026-01-01", "to"),
        ("color=red", "color"),
    ],
)
def test_list_bad_filters_are_400_naming_the_field(acme, query, field):
    response = acme.client("manager").get(f"{DAILY}?{query}")
    assert response.status_code == 400
    assert field in _error_fields(response)


def test_list_query_count_does_not_grow_with_page_size(acme, django_assert_max_num_queries):
    DailyReport.objects.bulk_create(
        DailyReport(business_date=date(2025, 1, 1) + timedelta(days=i)) for i in range(60)
    )
    client = acme.client("manager")
    client.get(f"{DAILY}?page_size=2")  # warm caches (content types, user)
    with django_assert_max_num_queries(8) as small:
        assert len(client.get(f"{DAILY}?page_size=2").json()["results"]) == 2
    with django_assert_max_num_queries(8) as big:
        assert len(client.get(f"{DAILY}?page_size=50").json()["results"]) == 50
    assert len(big.captured_queries) == len(small.captured_queries)


def test_download_is_the_workbook_with_a_named_file(acme, acme_day):
    response = acme.client("manager").get(f"{DAILY}{acme_day.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert 'filename="acme-daily-report-2026-01-14.xlsx"' in response["Content-Disposition"]
    wb = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert wb["Summary"]["A1"].value.startswith("Acme")


def test_download_of_a_report_without_file_is_409(acme, media):
    report = DailyReport.objects.create(business_date=D, status=ReportStatus.PENDING)
    response = acme.client("manager").get(f"{DAILY}{report.pk}/download/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "REPORT_NOT_READY"


def test_other_organizations_report_is_404_everywhere(acme, globex, globex_day):
    client = acme.client("owner")
    for path in (f"{DAILY}{globex_day.pk}/", f"{DAILY}{globex_day.pk}/download/"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] in ("REPORT_NOT_FOUND", "NOT_FOUND")
    assert client.get(DAILY).json()["count"] == 0
    # The same user (member of both) with a globex token sees it on globex's host only.
    assert globex.client("both").get(f"{DAILY}{globex_day.pk}/").status_code == 200
    # And globex's workbook lives under globex's schema.
    assert globex_day.file.name.startswith("globex/reports/daily/")


def test_unknown_ids_are_404(acme):
    client = acme.client("manager")
    assert client.get(f"{DAILY}999999/").status_code == 404
    assert client.get(f"{MONTHLY}999999/download/").status_code == 404
    assert client.get(f"/api/v1/reports/jobs/{uuid.uuid4()}/").status_code == 404
    assert client.get("/api/v1/reports/jobs/not-a-uuid/").status_code == 404


# --- regenerate and jobs ----------------------------------------------------------------


def test_regenerate_daily_returns_202_and_a_job(acme):
    client = acme.client("manager")
    response = client.post(f"{DAILY}regenerate/", {"date": "2026-01-14"})
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == JobStatus.QUEUED
    assert job["kind"] == "daily" and job["period"] == "2026-01-14"
    report = DailyReport.objects.get(business_date=D)
    assert report.status == ReportStatus.PENDING and report.task_id == job["id"]
    status = client.get(f"/api/v1/reports/jobs/{job['id']}/")
    assert status.status_code == 200 and status.json()["status"] == JobStatus.QUEUED
    # A second request while the first is in flight returns the same job (no duplicate work).
    again = client.post(f"{DAILY}regenerate/", {"date": "2026-01-14"}).json()
    assert again["id"] == job["id"]
    assert ReportJob.objects.count() == 1


def test_regenerate_job_runs_and_reports_success(acme, media):
    """The job the API queued, run by the same code a worker runs (the Celery path itself is
    covered by test_worker.py)."""
    known_history(acme)
    client = acme.client("owner")
    job = client.post(f"{DAILY}regenerate/", {"date": "2026-01-14"}).json()
    report_generate(kind=ReportKind.DAILY, period=D, job_id=job["id"])
    status = client.get(f"/api/v1/reports/jobs/{job['id']}/").json()
    assert status["status"] == JobStatus.SUCCEEDED
    detail = client.get(f"{DAILY}{status['report_id']}/").json()
    assert detail["status"] == ReportStatus.READY
    assert detail["metrics"]["revenue"] == "143.50"
    # A duplicate delivery of the finished job does nothing.
    assert report_generate(kind=ReportKind.DAILY, period=D, job_id=job["id"]) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "date"),
        ({"date": "2026-02-30"}, "date"),
        ({"date": "14/01/2026"}, "date"),
        ({"date": "2026-01-14", "force": True}, "force"),
    ],
)
def test_regenerate_daily_bad_input(acme, body, field):
    response = acme.client("manager").post(f"{DAILY}regenerate/", body)
    assert response.status_code == 400
    assert field in _error_fields(response)
    assert not ReportJob.objects.exists() and not DailyReport.objects.exists()


def test_regenerate_daily_refuses_open_and_future_days(acme):
    today = business_date(acme.organization)
    for day in (today, today + timedelta(days=3)):
        response = acme.client("manager").post(f"{DAILY}regenerate/", {"date": day.isoformat()})
        assert response.status_code == 400
        assert "date" in _error_fields(response)


def test_regenerate_monthly(acme):
    response = acme.client("manager").post(f"{MONTHLY}regenerate/", {"month": "2026-01"})
    assert response.status_code == 202
    assert response.json()["period"] == "2026-01"
    assert MonthlyReport.objects.get().month == date(2026, 1, 1)


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "January", "", "2999-01"])
def test_regenerate_monthly_bad_or_future_month(acme, month):
    response = acme.client("manager").post(f"{MONTHLY}regenerate/", {"month": month})
    assert response.status_code == 400
    assert "month" in _error_fields(response)
    assert not MonthlyReport.objects.exists()


def test_regenerate_monthly_refuses_the_current_month(acme):
    month = business_date(acme.organization).strftime("%Y-%m")
    response = acme.client("manager").post(f"{MONTHLY}regenerate/", {"month": month})
    assert response.status_code == 400
    assert "month" in _error_fields(response)


def test_monthly_list_detail_download(acme, media):
    known_history(acme)
    report = report_generate(kind=ReportKind.MONTHLY, period=date(2026, 1, 1))
    client = acme.client("manager")
    row = client.get(MONTHLY).json()["results"][0]
    assert row["month"] == "2026-01"
    assert client.get(f"{MONTHLY}{report.pk}/").json()["metrics"]["tasks_total"] == 10
    response = client.get(f"{MONTHLY}{report.pk}/download/")
    assert response.status_code == 200
    assert 'filename="acme-monthly-report-2026-01.xlsx"' in response["Content-Disposition"]


def test_other_organizations_job_is_404(acme, globex):
    job = globex.client("owner").post(f"{DAILY}regenerate/", {"date": "2026-01-14"}).json()
    assert acme.client("owner").get(f"/api/v1/reports/jobs/{job['id']}/").status_code == 404
    assert globex.client("owner").get(f"/api/v1/reports/jobs/{job['id']}/").status_code == 200


# --- dashboard -------------------------------------------------------------------------------


def test_dashboard_range_with_deltas(acme):
    known_history(acme)
    client = acme.client("manager")
    response = client.get(f"{DASHBOARD}?from=2026-01-14&to=2026-01-15")
    assert response.status_code == 200
    m = response.json()
    assert m["period"]["first"] == "2026-01-14" and m["period"]["days"] == 2
    assert m["tasks_total"] == 8  # the 14th's 7 and the 15th's 1
    assert m["revenue"] == "333.50"  # 143.50 + 190.00
    prev = m["comparisons"]["previous_period"]
    assert (prev["period"]["first"], prev["period"]["last"]) == ("2026-01-12", "2026-01-13")
    assert prev["deltas"]["revenue"]["previous"] == "5.00"
    assert prev["deltas"]["revenue"]["change"] == "328.50"
    assert "same_weekday_last_week" not in m["comparisons"]


def test_dashboard_is_cached_per_tenant(acme, globex):
    known_history(acme)
    url = f"{DASHBOARD}?from=2026-01-14&to=2026-01-14"
    first = acme.client("manager").get(url).json()

    cola = Agent.objects.get(name="Cola")
    tasks_bulk(
        acme.organization,
        [TaskSpec(at(acme.organization, "2026-01-14 15:00"), "completed", [(cola, 1)])],
    )
    assert acme.client("manager").get(url).json() == first  # served from the cache
    # globex has the same URL and no tasks: its own cache entry.
    other = globex.client("manager").get(url).json()
    assert other["tasks_total"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "from"),
        ("from=2026-01-01", "to"),
        ("from=2026-01-xx&to=2026-01-02", "from"),
        ("from=2026-02-01&to=2026-01-01", "to"),
        ("from=2025-01-01&to=2026-01-02", "to"),
        ("from=2026-01-01&to=2999-01-01", "to"),
    ],
)
def test_dashboard_bad_ranges_are_400_naming_the_field(acme, query, field):
    response = acme.client("manager").get(f"{DASHBOARD}?{query}")
    assert response.status_code == 400
    assert field in _error_fields(response)


def test_regenerate_while_a_synchronous_run_holds_the_report_is_409(acme):
    DailyReport.objects.create(
        business_date=D,
        status=ReportStatus.RUNNING,
        task_id="sync-1234",
        started_at=timezone.now(),
    )
    response = acme.client("manager").post(f"{DAILY}regenerate/", {"date": "2026-01-14"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "REPORT_IN_PROGRESS"
    assert not ReportJob.objects.exists()
