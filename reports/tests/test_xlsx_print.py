"""Reports print as a manager expects (issue 17 item 8): every sheet of the daily and monthly
workbooks one page wide, its heading row repeated, the organization, report, period and page
numbers in the header and footer, the print area set and the charts inside it."""

import copy
import io
import re
import zipfile
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.units import EMU_to_pixels

from reports.choices import ReportKind
from reports.services import report_build
from tasks.choices import TaskStatus
from testing.factories import TaskSpec, at, catalog_named, tasks_bulk

# sheet: (orientation, heading rows repeated, last column of the print area at least)
EXPECTED = {
    "Summary": ("portrait", "$3:$3", "E"),
    "Hourly": ("portrait", "$1:$1", "E"),
    "Agents": ("landscape", "$1:$1", "J"),
    "Categories": ("portrait", "$1:$1", "C"),
    "Tasks": ("landscape", "$1:$1", "M"),
}


def _busy_day(org) -> None:
    """60 tasks in ``org``'s schema (the active one: the test's organization)."""
    o = org.organization
    catalog = catalog_named()
    agents = list(catalog.agents.values())
    specs = [
        TaskSpec(
            at(o, f"2026-01-14 {10 + i % 10:02d}:{i % 60:02d}"),
            TaskStatus.CANCELLED if i % 7 == 0 else TaskStatus.COMPLETED,
            [(agents[i % len(agents)], 1 + i % 3)],
            ready_after=timedelta(minutes=5 + i % 9),
            customer_name=f"Guest {i}",
        )
        for i in range(60)
    ]
    tasks_bulk(o, specs)


def _column_px(ws, letter: str) -> float:
    width = ws.column_dimensions[letter].width if letter in ws.column_dimensions else None
    return int((width or 8.43) * 7 + 5)


def _area(ws) -> tuple[str, int | None, str, int | None]:
    """First column, first row, last column, last row of the sheet's print area."""
    (area,) = ws.print_area if isinstance(ws.print_area, list) else [ws.print_area]
    match = re.fullmatch(r"'?[^!]+'?!\$([A-Z]+)\$?(\d*):\$([A-Z]+)\$?(\d*)", area)
    assert match, area
    first_col, first_row, last_col, last_row = match.groups()
    return first_col, int(first_row or 0) or None, last_col, int(last_row or 0) or None


@pytest.mark.parametrize(
    "kind, period, label, title",
    [
        (ReportKind.DAILY, date(2026, 1, 14), "2026-01-14", "Daily report"),
        (ReportKind.MONTHLY, date(2026, 1, 1), "2026-01-01 – 2026-01-31", "Monthly report"),
    ],
)
def test_every_sheet_prints_one_page_wide_with_headers_and_footers(
    acme, kind, period, label, title
):
    _busy_day(acme)
    # An "&" in a name is a code in Excel headers: written doubled, shown once.
    organization = copy.copy(acme.organization)
    organization.name = "Tom & Jerry's Noodles"
    _metrics, content = report_build(organization=organization, kind=kind, period=period)
    wb = load_workbook(io.BytesIO(content))
    assert wb.sheetnames == list(EXPECTED)

    for ws in wb.worksheets:
        orientation, title_rows, min_last_col = EXPECTED[ws.title]
        where = ws.title
        setup = ws.page_setup
        assert setup.orientation == orientation, where
        assert setup.paperSize == 9, where  # A4
        assert (setup.fitToWidth, setup.fitToHeight) == (1, 0), where
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True, where
        assert ws.print_options.horizontalCentered is True, where
        assert ws.print_title_rows == title_rows, where

        assert ws.oddHeader.left.text == "&BTom && Jerry's Noodles", where
        assert ws.oddHeader.center.text == title, where
        assert ws.oddHeader.right.text == label, where
        assert ws.oddFooter.left.text == "&A", where  # the sheet's name
        assert ws.oddFooter.center.text == "Page &P of &N", where

        first_col, first_row, last_col, last_row = _area(ws)
        assert first_col == "A", where
        assert column_index_from_string(last_col) >= column_index_from_string(min_last_col)
        assert first_row == 1, where
        if ws.title == "Tasks":
            # The rows streamed in after the sheet's settings were written: all 60 inside.
            assert (ws.max_row, last_row, last_col) == (61, 61, "M")
        # Every cell with a value is inside the print area.
        assert ws.max_row <= last_row, where
        assert ws.max_column <= column_index_from_string(last_col), where

        # Charts: below the table (no cell of the table beside or under them), and within the
        # print area's width and height.
        for chart in ws._charts:
            anchor = chart.anchor
            top_row = anchor._from.row + 1  # 0-based in the drawing
            assert anchor._from.col == 0, where
            table_rows = max(c.row for row in ws.iter_rows() for c in row if c.value is not None)
            assert top_row > table_rows, (where, top_row, table_rows)
            width_px = EMU_to_pixels(anchor.ext.width)
            area_px = sum(
                _column_px(ws, get_column_letter(i))
                for i in range(1, column_index_from_string(last_col) + 1)
            )
            assert width_px <= area_px, (where, width_px, area_px)
            height_rows = EMU_to_pixels(anchor.ext.height) / 20
            assert top_row + height_rows <= last_row + 1, (where, top_row, height_rows, last_row)
    assert len(wb["Hourly"]._charts) == 1
    assert len(wb["Agents"]._charts) == 1


def test_the_xml_says_fit_to_one_page_wide_any_number_down(acme):
    """openpyxl reads a missing fitToHeight back as 0 too: the file itself must say 0 (a
    spreadsheet program's default is 1, one page in all: unreadably small for a busy day)."""
    _busy_day(acme)
    _metrics, content = report_build(
        organization=acme.organization, kind=ReportKind.DAILY, period=date(2026, 1, 14)
    )
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheets = [n for n in archive.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)]
        assert len(sheets) == len(EXPECTED)
        for name in sheets:
            xml = archive.read(name).decode()
            assert re.search(r'<pageSetUpPr [^>]*fitToPage="1"', xml), name
            setup = re.search(r"<pageSetup [^>]*/>", xml).group(0)
            assert 'fitToWidth="1"' in setup and 'fitToHeight="0"' in setup, (name, setup)
            assert "<oddFooter>" in xml and "&amp;P" in xml and "&amp;N" in xml, name
        workbook = archive.read("xl/workbook.xml").decode()
        assert workbook.count("_xlnm.Print_Titles") == len(EXPECTED)
        assert workbook.count("_xlnm.Print_Area") == len(EXPECTED)
