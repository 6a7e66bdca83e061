"""A rebuild never leaves the report row pointing at a missing workbook: the new file is saved
under a new name first, the row switches in a transaction, the old file goes after commit."""

import io
from datetime import date

import pytest
from django.core.files.storage import FileSystemStorage, default_storage
from openpyxl import load_workbook

from reports import services
from reports.choices import ReportKind, ReportStatus
from reports.models import DailyReport
from reports.services import report_generate

from .conftest import known_history

D = date(2026, 1, 14)


def _download(org, report) -> bytes:
    response = org.client("manager").get(f"/api/v1/reports/daily/{report.pk}/download/")
    assert response.status_code == 200, response.content[:300]
    return b"".join(response.streaming_content)


@pytest.fixture
def broken_storage(monkeypatch):
    """The storage refuses to write (a full disk, an object store down) from now on."""

    def refuse(self, name, content):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", refuse)


def test_a_rebuild_whose_save_fails_keeps_serving_the_previous_workbook(acme, media, request):
    known_history(acme)
    first = report_generate(kind=ReportKind.DAILY, period=D)
    served = _download(acme, first)
    request.getfixturevalue("broken_storage")

    with pytest.raises(OSError, match="No space left"):
        report_generate(kind=ReportKind.DAILY, period=D, force=True)

    report = DailyReport.objects.get(pk=first.pk)
    assert report.file.name == first.file.name
    assert default_storage.exists(report.file.name)
    assert _download(acme, report) == served
    # The failure is recorded; the previous figures stay with the previous workbook.
    assert report.status == ReportStatus.FAILED and "No space left" in report.error
    assert report.metrics == first.metrics


def test_a_rebuild_switches_to_a_new_file_and_deletes_the_old_one_after_commit(
    acme, media, django_capture_on_commit_callbacks
):
    known_history(acme)
    first = report_generate(kind=ReportKind.DAILY, period=D)
    old = first.file.name
    assert old.startswith("acme/reports/daily/2026-01-14-") and old.endswith(".xlsx")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = report_generate(kind=ReportKind.DAILY, period=D, force=True)
    # Committed (in the test's terms), not yet cleaned up: both files exist, the row points
    # at the new one.
    assert again.file.name != old
    assert default_storage.exists(again.file.name) and default_storage.exists(old)
    assert DailyReport.objects.get(pk=first.pk).file.name == again.file.name
    for callback in callbacks:
        callback()
    assert not default_storage.exists(old)
    workbook = load_workbook(io.BytesIO(_download(acme, again)))
    assert workbook["Summary"]["A1"].value == "Acme — Daily report 2026-01-14"


def test_a_superseded_run_leaves_no_file_behind(acme, media, monkeypatch):
    """A run whose claim was taken over stores nothing: its new file is removed again."""
    known_history(acme)
    first = report_generate(kind=ReportKind.DAILY, period=D)
    directory = media / "acme" / "reports" / "daily"
    before = sorted(p.name for p in directory.iterdir())

    real_build = services.report_build

    def build_then_lose_the_claim(**kwargs):
        out = real_build(**kwargs)
        # Another job takes the row over while this one computes.
        DailyReport.objects.filter(pk=first.pk).update(task_id="another-job")
        return out

    monkeypatch.setattr(services, "report_build", build_then_lose_the_claim)
    assert report_generate(kind=ReportKind.DAILY, period=D, force=True) is None
    assert sorted(p.name for p in directory.iterdir()) == before
    assert DailyReport.objects.get(pk=first.pk).file.name == first.file.name
