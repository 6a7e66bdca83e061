"""Every metric of the known history (reports/tests/conftest.py) against hand-computed values,
in the stored report, in the workbook, and on DST days in America/New_York."""

import io
import re
from datetime import date, datetime

import pytest
from django.core.files.storage import default_storage
from openpyxl import load_workbook

from reports.choices import ReportKind, ReportStatus
from reports.metrics import compute_metrics
from reports.services import report_generate
from testing.factories import TaskSpec, at, catalog_named, tasks_bulk

from .conftest import known_history

D = date(2026, 1, 14)


@pytest.fixture
def day_report(acme, media):
    known_history(acme)
    return report_generate(kind=ReportKind.DAILY, period=D)


def test_daily_metrics_match_hand_computed_values(day_report):
    m = day_report.metrics
    assert day_report.status == ReportStatus.READY
    assert m["period"]["start"] == "2026-01-14T05:00:00+08:00"
    assert m["period"]["end"] == "2026-01-15T05:00:00+08:00"
    assert m["currency"] == "CNY"
    assert m["tasks_total"] == 7
    assert m["tasks_by_status"] == {
        "pending": 0, "accepted": 0, "in_progress": 0, "ready": 1,
        "completed": 4, "cancelled": 1, "expired": 1,
    }  # fmt: skip
    assert m["revenue"] == "143.50"
    assert m["gross_sales"] == "147.00"
    assert m["discounts"] == "3.50"
    assert m["average_task_value"] == "35.88"
    assert m["items_sold"] == 12
    assert m["cancellation_rate"] == 0.1429
    assert m["expiry_rate"] == 0.1429
    assert m["preparation_seconds"] == {"count": 5, "average": 960.0, "p90": 1560.0}


def test_daily_rankings_and_categories(day_report):
    m = day_report.metrics
    by_qty = [
        (a["rank"], a["name"], a["quantity"], a["revenue"]) for a in m["top_agents_by_quantity"]
    ]
    assert by_qty == [(1, "Cola", 5, "25.00"), (2, "米饭", 4, "8.00"), (3, "宫保鸡丁", 3, "114.00")]
    by_rev = [(a["name"], a["revenue"]) for a in m["top_agents_by_revenue"]]
    assert by_rev == [("宫保鸡丁", "114.00"), ("Cola", "25.00"), ("米饭", "8.00")]
    cats = [(c["name"], c["quantity"], c["revenue"]) for c in m["categories"]]
    assert cats == [("热菜", 7, "122.00"), ("Drinks", 5, "25.00")]


def test_daily_hourly_is_business_day_ordered_with_peaks(day_report):
    hourly = day_report.metrics["hourly"]
    assert [h["hour"] for h in hourly] == [*range(5, 24), *range(0, 5)]
    busy = {h["hour"]: (h["tasks"], h["revenue"]) for h in hourly if h["tasks"]}
    assert busy == {
        11: (1, "80.00"), 12: (1, "44.00"), 13: (1, "0.00"), 18: (1, "17.50"),
        19: (1, "0.00"), 1: (1, "2.00"), 4: (1, "0.00"),
    }  # fmt: skip
    assert {h["hour"] for h in hourly if h["peak"]} == {11, 12, 13, 17, 18, 19, 20}


def test_daily_comparisons(day_report):
    comparisons = day_report.metrics["comparisons"]
    prev = comparisons["previous_period"]
    assert prev["period"]["first"] == "2026-01-13"
    assert prev["kpis"]["tasks_total"] == 1
    assert prev["kpis"]["revenue"] == "5.00"
    assert prev["deltas"]["tasks_total"] == {
        "current": 7, "previous": 1, "change": 6, "change_pct": 600.0
    }  # fmt: skip
    assert prev["deltas"]["revenue"] == {
        "current": "143.50", "previous": "5.00", "change": "138.50", "change_pct": 2770.0
    }  # fmt: skip
    week = comparisons["same_weekday_last_week"]
    assert week["period"]["first"] == "2026-01-07"
    assert week["deltas"]["revenue"]["previous"] == "38.00"
    assert week["deltas"]["revenue"]["change"] == "105.50"
    assert week["deltas"]["revenue"]["change_pct"] == 277.6


def test_workbook_sheets_cells_and_charts(day_report):
    assert re.fullmatch(r"acme/reports/daily/2026-01-14-[0-9a-f]{12}\.xlsx", day_report.file.name)
    with default_storage.open(day_report.file.name, "rb") as fh:
        wb = load_workbook(io.BytesIO(fh.read()))
    assert wb.sheetnames == ["Summary", "Hourly", "Agents", "Categories", "Tasks"]
    summary = wb["Summary"]
    assert summary["A1"].value == "Acme — Daily report 2026-01-14"
    assert summary.freeze_panes == "A4"
    rows = {r[0]: r[1:] for r in summary.iter_rows(min_row=4, values_only=True) if r[0]}
    assert rows["Tasks"][0] == 7
    assert rows["Revenue (completed tasks)"][0] == 143.5
    assert rows["Revenue (completed tasks)"][1] == 5  # previous day
    assert rows["Revenue (completed tasks)"][2] == pytest.approx(27.70)  # +2770 %
    assert rows["Discounts"][0] == 3.5
    assert rows["Items sold"][0] == 12
    assert rows["P90 preparation (min)"][0] == 26
    revenue_cell = next(c for c in summary["B"] if c.value == 143.5)
    assert revenue_cell.number_format == "#,##0.00"

    hourly = wb["Hourly"]
    assert len(hourly._charts) == 1
    assert hourly.freeze_panes == "A2"
    assert [c.value for c in hourly[1]] == ["Hour", "Tasks", "Completed", "Revenue", "Peak"]
    eleven = [c.value for c in hourly[8]]  # 05:00 is row 2
    assert eleven == ["11:00", 1, 1, 80, "peak"]
    assert hourly["A8"].fill.fgColor.rgb.endswith("FCE4D6")
    assert hourly["A2"].fill.fill_type is None

    agents = wb["Agents"]
    assert len(agents._charts) == 1
    assert [c.value for c in agents[2]][:5] == [1, "Cola", "Drinks", 5, 25]
    assert agents["H2"].value == "宫保鸡丁"

    cats = list(wb["Categories"].iter_rows(min_row=2, values_only=True))
    assert cats == [("热菜", 7, 122), ("Drinks", 5, 25)]

    tasks = list(wb["Tasks"].iter_rows(min_row=2, values_only=True))
    assert len(tasks) == 7
    first = tasks[0]
    assert first[0] == "20260114001"
    assert first[1] == "completed"
    assert first[3] == "张三"
    assert first[4] == datetime(2026, 1, 14, 11, 10)  # local time, no offset in Excel
    assert first[7] == 3 and first[8] == 81 and first[9] == 1 and first[10] == 80
    assert wb["Tasks"]["I2"].number_format == "#,##0.00"
    last = tasks[-1]
    assert last[4] == datetime(2026, 1, 15, 4, 59)


def test_regenerating_gives_the_same_numbers(day_report):
    again = report_generate(kind=ReportKind.DAILY, period=D, force=True)
    assert again.pk == day_report.pk
    assert again.metrics == day_report.metrics
    # A new workbook under a new name (the row switches to it; test_report_files.py).
    assert again.file.name != day_report.file.name
    assert default_storage.exists(again.file.name)


def test_monthly_metrics(acme, media):
    known_history(acme)
    report = report_generate(kind=ReportKind.MONTHLY, period=date(2026, 1, 1))
    m = report.metrics
    assert m["period"]["first"] == "2026-01-01" and m["period"]["last"] == "2026-01-31"
    # Every task of the history is in January: 7 + the 13th's + the 15th's + the 7th's.
    assert m["tasks_total"] == 10
    assert m["revenue"] == "376.50"  # 143.50 + 5.00 + 190.00 + 38.00
    assert m["comparisons"]["previous_period"]["period"]["first"] == "2025-12-01"
    assert "same_weekday_last_week" not in m["comparisons"]
    assert re.fullmatch(r"acme/reports/monthly/2026-01-[0-9a-f]{12}\.xlsx", report.file.name)
    wb = load_workbook(default_storage.open(report.file.name, "rb"))
    assert wb["Summary"]["A1"].value == "Acme — Monthly report 2026-01-01 – 2026-01-31"


def test_empty_day_has_zero_metrics(acme, media):
    m = compute_metrics(acme.organization, date(2026, 2, 1), date(2026, 2, 1))
    assert m["tasks_total"] == 0
    assert m["revenue"] == "0.00" and m["average_task_value"] == "0.00"
    assert m["preparation_seconds"] == {"count": 0, "average": None, "p90": None}
    assert m["comparisons"]["previous_period"]["deltas"]["revenue"]["change_pct"] is None


def test_dst_fall_back_day_has_25_hours(nyc, media):
    """America/New_York, 2026-11-01 02:00 EDT -> 01:00 EST: business day Oct 31 is 25 h."""
    o = nyc.organization
    cola = catalog_named().agents["Cola"]
    C = "completed"
    tasks_bulk(
        o,
        [
            TaskSpec(at(o, "2026-10-31 05:00"), C, [(cola, 1)]),
            TaskSpec(at(o, "2026-11-01 01:30"), C, [(cola, 1)]),  # EDT
            TaskSpec(at(o, "2026-11-01 01:30", fold=1), C, [(cola, 2)]),  # EST, an hour later
            TaskSpec(at(o, "2026-11-01 04:59"), C, [(cola, 1)]),
            TaskSpec(at(o, "2026-11-01 05:00"), C, [(cola, 7)]),  # next business day
        ],
    )
    report = report_generate(kind=ReportKind.DAILY, period=date(2026, 10, 31))
    m = report.metrics
    assert m["period"]["start"] == "2026-10-31T05:00:00-04:00"
    assert m["period"]["end"] == "2026-11-01T05:00:00-05:00"
    assert m["period"]["timezone"] == "America/New_York"
    assert m["tasks_total"] == 4
    assert m["revenue"] == "25.00"
    hours = {h["hour"]: h["tasks"] for h in m["hourly"] if h["tasks"]}
    assert hours == {5: 1, 1: 2, 4: 1}  # the repeated 01:00 hour is one bucket
    assert m["currency"] == "CNY"


def test_dst_spring_forward_day_has_23_hours(nyc, media):
    """2026-03-08 02:00 EST -> 03:00 EDT: business day Mar 7 is 23 h, hour 02 stays empty."""
    o = nyc.organization
    cola = catalog_named().agents["Cola"]
    tasks_bulk(
        o,
        [
            TaskSpec(at(o, "2026-03-07 05:00"), "completed", [(cola, 1)]),
            TaskSpec(at(o, "2026-03-08 01:59"), "completed", [(cola, 1)]),
            TaskSpec(at(o, "2026-03-08 03:00"), "completed", [(cola, 1)]),
            TaskSpec(at(o, "2026-03-08 04:59"), "cancelled", [(cola, 1)]),
            TaskSpec(at(o, "2026-03-08 05:00"), "completed", [(cola, 9)]),
        ],
    )
    m = compute_metrics(o, date(2026, 3, 7), date(2026, 3, 7))
    start = datetime.fromisoformat(m["period"]["start"])
    end = datetime.fromisoformat(m["period"]["end"])
    assert (end - start).total_seconds() == 23 * 3600
    assert m["tasks_total"] == 4
    assert m["revenue"] == "15.00"
    assert m["cancellation_rate"] == 0.25
    hours = {h["hour"]: h["tasks"] for h in m["hourly"]}
    assert hours[2] == 0 and hours[1] == 1 and hours[3] == 1 and hours[4] == 1


def test_workbook_text_is_escaped_and_kept_intact(acme, media):
    o = acme.organization
    cola = catalog_named().agents["Cola"]
    tasks_bulk(
        o,
        [
            TaskSpec(
                at(o, "2026-01-14 12:00"), "completed", [(cola, 1)], customer_name=" A&B <VIP> "
            ),
            TaskSpec(at(o, "2026-01-14 12:05"), "cancelled", [(cola, 1)], workspace="露台\x07"),
        ],
    )
    report = report_generate(kind=ReportKind.DAILY, period=D)
    wb = load_workbook(default_storage.open(report.file.name, "rb"))
    rows = list(wb["Tasks"].iter_rows(min_row=2, values_only=True))
    assert rows[0][3] == " A&B <VIP> "
    assert rows[1][2] == "露台"  # control characters are not valid XML: dropped
    assert rows[1][12] == "customer left"
    assert rows[1][5] is None  # never ready
