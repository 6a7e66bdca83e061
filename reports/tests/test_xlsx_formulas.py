"""Text a spreadsheet would run as a formula is written as text, in every sheet of both
workbooks (daily and monthly): names come from users (agents, categories, customers,
workspaces, cancel reasons), and a cell holding ``=HYPERLINK(...)`` must stay a string."""

import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from reports.choices import ReportKind
from reports.services import report_build
from reports.xlsx import formula_like
from tasks.choices import TaskStatus
from testing.factories import TaskSpec, agent_make, at, category_make, tasks_bulk

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "=1+1",
]


def _hostile_day(org):
    """Hostile names and notes in ``org``'s tasks (the active schema: the test's organization)."""
    o = org.organization
    category = category_make(name="=1+2", sort_order=0)
    agents = [
        agent_make(name=name, category=category, price=Decimal("10.00"), stock=None)
        for name in HOSTILE[:4]
    ]
    specs = [
        TaskSpec(
            at(o, f"2026-01-14 1{i}:00"),
            TaskStatus.COMPLETED,
            [(agent, i + 1)],
            workspace=HOSTILE[(i + 2) % len(HOSTILE)][:16],
            customer_name=HOSTILE[i % len(HOSTILE)],
        )
        for i, agent in enumerate(agents)
    ]
    specs.append(
        TaskSpec(at(o, "2026-01-14 17:00"), TaskStatus.CANCELLED, [(agents[0], 1)],
                 customer_name="@evil", workspace="=A1")
    )  # fmt: skip
    tasks_bulk(o, specs)


def _cells(content: bytes):
    wb = load_workbook(io.BytesIO(content))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                yield ws.title, cell


@pytest.mark.parametrize(
    "kind, period", [(ReportKind.DAILY, date(2026, 1, 14)), (ReportKind.MONTHLY, date(2026, 1, 1))]
)
def test_formula_like_text_is_written_as_text_in_every_sheet(acme, kind, period):
    _hostile_day(acme)
    _metrics, content = report_build(organization=acme.organization, kind=kind, period=period)
    seen: dict[str, set[str]] = {}
    for title, cell in _cells(content):
        if isinstance(cell.value, str) and formula_like(cell.value):
            assert cell.data_type == "s", (title, cell.coordinate, cell.value)
            seen.setdefault(title, set()).add(cell.value)
        # No cell of any sheet is a formula: the workbook has none of its own.
        assert cell.data_type != "f", (title, cell.coordinate, cell.value)
    # The hostile text is there, unchanged, in the sheets that show names.
    assert set(HOSTILE[:4]) <= seen["Agents"]
    assert "=1+2" in seen["Categories"]
    tasks = seen["Tasks"]
    assert {'=HYPERLINK("http://x","y")', "@evil", "=A1", "\t=1+1", "\r=1+1"} <= tasks
    assert kind == ReportKind.MONTHLY or "-2+3" in tasks


def test_formula_like_rule():
    for text in [*HOSTILE, "=", " =1", "\n=1"]:
        assert formula_like(text), text
    for text in ["", "Cola", "宫保鸡丁", "1-2", "a=b", "A01"]:
        assert not formula_like(text), text
