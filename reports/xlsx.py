"""The report workbook (openpyxl, write-only mode: 10,000 task rows stream in well under 1 s).

Sheets: Summary (KPIs with deltas), Hourly (table + native bar chart, peak hours filled),
Agents (ranking + bar chart), Categories, Tasks (every task of the period). Times are local
to the organization (Excel has no time zones), money cells carry a 2-decimal number format.
"""

import io
import math
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import pgettext, pgettext_lazy
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from tasks.models import Task, TaskItem

from .metrics import Period

MONEY_FORMAT = "#,##0.00"
PERCENT_FORMAT = "0.0%"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
MINUTES_FORMAT = "0.0"
SCORE_FORMAT = "0.00"
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="305496")
TITLE_FONT = Font(bold=True, size=14)
PEAK_FILL = PatternFill("solid", fgColor="FCE4D6")
GOOD_FONT = Font(color="006100")
BAD_FONT = Font(color="9C0006")

# A cell whose text starts with one of these (also behind leading blanks, or a tab or carriage
# return of its own) is what a spreadsheet runs as a formula when a person types it, and what
# openpyxl itself writes as a formula for "=": user text (agent, category, customer names,
# workspaces) never gets that chance. Such text is written as a string with Excel's quote
# prefix, so even editing the cell in Excel keeps it text.
_FORMULA_START = frozenset("=+-@")
_LEADING_BLANKS = " \t\r\n"


def formula_like(text: str) -> bool:
    """True when a spreadsheet would take ``text`` as a formula (the "CSV injection" set)."""
    if not text:
        return False
    return text[0] in "\t\r" or text.lstrip(_LEADING_BLANKS)[:1] in _FORMULA_START


class _Sheet:
    """A write-only sheet with helpers for styled cells (one style object per kind)."""

    def __init__(self, wb: Workbook, title: str, widths: list[int]):
        self.ws = wb.create_sheet(title)
        self.widths = widths
        # Scale to the page (_page_setup says how). Set before the first row: a write-only
        # sheet writes its <sheetPr> then, its page setup only when it is closed.
        self.ws.sheet_properties.pageSetUpPr.fitToPage = True
        for index, width in enumerate(widths):
            self.ws.column_dimensions[chr(ord("A") + index)].width = width
        self.row = 0

    def cell(self, value, *, fmt=None, font=None, fill=None, align=None):
        c = WriteOnlyCell(self.ws, value=value)
        if isinstance(value, str):
            # openpyxl binds "=..." as a formula and "#N/A" as an error: text is text.
            c.data_type = "s"
            if formula_like(value):
                c.quotePrefix = True
        if fmt:
            c.number_format = fmt
        if font:
            c.font = font
        if fill:
            c.fill = fill
        if align:
            c.alignment = align
        return c

    def header(self, *titles):
        self.append([self.cell(t, font=HEADER_FONT, fill=HEADER_FILL) for t in titles])

    def append(self, values):
        # Plain strings go through cell() too: the one place text is made safe.
        self.ws.append([self.cell(v) if isinstance(v, str) else v for v in values])
        self.row += 1


# --- Printing (issue 17 item 8) -----------------------------------------------------------------
#
# Printed from a spreadsheet program, a report is one page wide per sheet (as many pages down as
# it needs), the table's heading row on every page, the organization, report and period in the
# header and "Page n of m" in the footer. Charts sit below their table, inside the print area:
# beside it they ran past the page edge and were cut.

# Screen pixels of Excel's geometry (96 dpi): a column of width w characters is w*7+5 px, a
# default row 20 px (15 pt), a column without a width 8.43 characters.
_PX_PER_CM = 96 / 2.54
_ROW_PX = 20
_DEFAULT_COLUMN_CHARS = 8.43
# Header/footer sections share Excel's 255-character limit; a name longer than this is cut.
_HEADER_NAME_MAX = 80


def _column_px(chars: float) -> int:
    return int(chars * 7 + 5)


def _header_text(text: str) -> str:
    """Literal text in a header/footer: "&" starts a code there (&P page, &N pages)."""
    return text.replace("&", "&&")


@dataclass(frozen=True)
class _Print:
    """What every sheet's header and footer says: whose report, which one, which period."""

    organization: str
    title: str
    period: str


def _chart_below(s: _Sheet, chart, *, gap: int = 2) -> tuple[int, int]:
    """Anchor ``chart`` at column A, ``gap`` rows below the table; the last (column, row) it
    covers, 1-based, for the print area."""
    row = s.row + gap + 1
    s.ws.add_chart(chart, f"A{row}")
    width_px = chart.width * _PX_PER_CM
    columns, covered = 0, 0
    while covered < width_px:
        width = s.widths[columns] if columns < len(s.widths) else _DEFAULT_COLUMN_CHARS
        covered += _column_px(width)
        columns += 1
    rows = math.ceil(chart.height * _PX_PER_CM / _ROW_PX)
    return columns, row + rows


def _page_setup(
    s: _Sheet,
    printing: _Print,
    *,
    landscape: bool,
    title_rows: str,
    last_column: int,
    last_row: int,
) -> None:
    """Orientation, one page wide, repeated heading rows, header/footer and the print area."""
    ws = s.ws
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as the rows need
    ws.print_options.horizontalCentered = True
    ws.print_title_rows = title_rows
    ws.print_area = f"A1:{get_column_letter(last_column)}{last_row}"
    header, footer = ws.HeaderFooter.oddHeader, ws.HeaderFooter.oddFooter
    header.left.text = "&B" + _header_text(printing.organization[:_HEADER_NAME_MAX])
    header.center.text = _header_text(printing.title)
    header.right.text = _header_text(printing.period)
    footer.left.text = "&A"  # the sheet's name
    # Translators keep &P (this page) and &N (pages): Excel replaces them.
    footer.center.text = _("Page &P of &N")


def _money(value) -> Decimal:
    return Decimal(value) if value is not None else Decimal("0")


def _period_label(metrics: dict) -> str:
    period = metrics["period"]
    if period["first"] == period["last"]:
        return period["first"]
    return f"{period['first']} – {period['last']}"


def _summary(wb, organization, metrics: dict, title: str, printing: _Print) -> None:
    s = _Sheet(wb, _("Summary"), [34, 18, 18, 14, 12])
    s.ws.freeze_panes = "A4"
    s.append([s.cell(f"{organization.name} — {title} {_period_label(metrics)}", font=TITLE_FONT)])
    period = metrics["period"]
    s.append([f"{_('Timezone')}: {period['timezone']}", f"{_('Currency')}: {metrics['currency']}"])
    deltas = metrics["comparisons"].get("previous_period", {}).get("deltas", {})
    week = metrics["comparisons"].get("same_weekday_last_week", {}).get("deltas", {})
    s.header(_("Indicator"), _("Value"), _("Previous period"), _("Change %"), _("vs last week %"))

    def pct(value):
        return value / 100 if value is not None else None

    def kpi(label, key, fmt=None, raw=None):
        value = raw if raw is not None else metrics[key]
        if fmt == MONEY_FORMAT:
            value = _money(value)
        d = deltas.get(key, {})
        w = week.get(key, {})
        previous = d.get("previous")
        if fmt == MONEY_FORMAT and previous is not None:
            previous = _money(previous)
        change = d.get("change_pct")
        font = None if not change else (GOOD_FONT if change > 0 else BAD_FONT)
        s.append(
            [
                label,
                s.cell(value, fmt=fmt),
                s.cell(previous, fmt=fmt),
                s.cell(pct(change), fmt=PERCENT_FORMAT, font=font),
                s.cell(pct(w.get("change_pct")), fmt=PERCENT_FORMAT),
            ]
        )

    kpi(_("Tasks"), "tasks_total")
    for status, count in metrics["tasks_by_status"].items():
        s.append([f"  {_('Tasks')} {status}", count])
    kpi(_("Revenue (completed tasks)"), "revenue", MONEY_FORMAT)
    s.append([_("Gross sales"), s.cell(_money(metrics["gross_sales"]), fmt=MONEY_FORMAT)])
    kpi(_("Discounts"), "discounts", MONEY_FORMAT)
    kpi(_("Average task value"), "average_task_value", MONEY_FORMAT)
    kpi(_("Items sold"), "items_sold")
    s.append(
        [
            _("Cancellation rate"),
            s.cell(metrics["cancellation_rate"], fmt=PERCENT_FORMAT),
        ]
    )
    s.append([_("Expiry rate"), s.cell(metrics["expiry_rate"], fmt=PERCENT_FORMAT)])
    prep = metrics["preparation_seconds"]
    labels = ((_("Average preparation (min)"), "average"), (_("P90 preparation (min)"), "p90"))
    for label, key in labels:
        value = prep[key] / 60 if prep[key] is not None else None
        s.append([label, s.cell(value, fmt=MINUTES_FORMAT)])
    # Reports computed before task notes existed have no "feedback".
    feedback = metrics.get("feedback") or {"scores": 0, "average_score": None}
    s.append(
        [
            _("Average feedback score (%(count)d scores)") % {"count": feedback["scores"]},
            s.cell(feedback["average_score"], fmt=SCORE_FORMAT),
        ]
    )
    _page_setup(s, printing, landscape=False, title_rows="3:3", last_column=5, last_row=s.row)


def _hourly(wb, metrics: dict, printing: _Print) -> None:
    s = _Sheet(wb, _("Hourly"), [10, 10, 12, 14, 8])
    s.ws.freeze_panes = "A2"
    s.header(_("Hour"), _("Tasks"), _("Completed"), _("Revenue"), _("Peak"))
    for h in metrics["hourly"]:
        fill = PEAK_FILL if h["peak"] else None
        s.append(
            [
                s.cell(h["label"], fill=fill),
                s.cell(h["tasks"], fill=fill),
                s.cell(h["completed"], fill=fill),
                s.cell(_money(h["revenue"]), fmt=MONEY_FORMAT, fill=fill),
                s.cell(_("peak") if h["peak"] else "", fill=fill),
            ]
        )
    chart = BarChart()
    chart.title = _("Tasks per hour (peak hours: see column E)")
    chart.y_axis.title = _("Tasks")
    chart.x_axis.title = _("Hour")
    chart.add_data(Reference(s.ws, min_col=2, min_row=1, max_row=25), titles_from_data=True)
    chart.set_categories(Reference(s.ws, min_col=1, min_row=2, max_row=25))
    chart.width, chart.height = 18, 9
    columns, last_row = _chart_below(s, chart)
    _page_setup(
        s,
        printing,
        landscape=False,
        title_rows="1:1",
        last_column=max(columns, 5),
        last_row=last_row,
    )


def _agents(wb, metrics: dict, printing: _Print) -> None:
    s = _Sheet(wb, _("Agents"), [6, 30, 20, 10, 14, 4, 6, 30, 14, 10])
    s.ws.freeze_panes = "A2"
    s.header(
        _("Rank"),
        _("Agent"),
        _("Category"),
        _("Quantity"),
        _("Revenue"),
        "",
        _("Rank"),
        _("Agent (by revenue)"),
        _("Revenue"),
        _("Quantity"),
    )
    by_qty, by_rev = metrics["top_agents_by_quantity"], metrics["top_agents_by_revenue"]
    for i in range(max(len(by_qty), len(by_rev))):
        row = [None] * 10
        if i < len(by_qty):
            a = by_qty[i]
            row[:5] = [
                a["rank"],
                a["name"],
                a["category"],
                a["quantity"],
                s.cell(_money(a["revenue"]), fmt=MONEY_FORMAT),
            ]
        if i < len(by_rev):
            a = by_rev[i]
            row[6:] = [
                a["rank"],
                a["name"],
                s.cell(_money(a["revenue"]), fmt=MONEY_FORMAT),
                a["quantity"],
            ]
        s.append(row)
    if by_qty:
        chart = BarChart()
        chart.type = "bar"
        chart.title = _("Top agents by quantity")
        last = len(by_qty) + 1
        chart.add_data(Reference(s.ws, min_col=4, min_row=1, max_row=last), titles_from_data=True)
        chart.set_categories(Reference(s.ws, min_col=2, min_row=2, max_row=last))
        chart.width, chart.height = 20, 10
        columns, last_row = _chart_below(s, chart)
    else:
        columns, last_row = 10, s.row
    _page_setup(
        s,
        printing,
        landscape=True,
        title_rows="1:1",
        last_column=max(columns, 10),
        last_row=max(last_row, 1),
    )


def _categories(wb, metrics: dict, printing: _Print) -> None:
    s = _Sheet(wb, _("Categories"), [30, 12, 14])
    s.ws.freeze_panes = "A2"
    s.header(_("Category"), _("Quantity"), _("Revenue"))
    for c in metrics["categories"]:
        s.append([c["name"], c["quantity"], s.cell(_money(c["revenue"]), fmt=MONEY_FORMAT)])
    _page_setup(s, printing, landscape=False, title_rows="1:1", last_column=3, last_row=s.row)


# --- Tasks: the one sheet that grows with volume ----------------------------------------------
#
# openpyxl writes the header, widths, frozen pane and registers the cell styles; the task rows
# themselves are streamed as SpreadsheetML straight into that sheet's zip entry (the same
# inline-string / numeric cells openpyxl writes), about 20x faster than a cell object per value:
# this is what keeps a 10,000-task day well under the 5 s budget on 2 cores.

TASK_COLUMNS = "ABCDEFGHIJKLM"
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_EXCEL_EPOCH = datetime(1899, 12, 30)


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    return value.astimezone(zone).replace(tzinfo=None) if value else None


def _text_cell(ref: str, text: str, quote_style: int) -> str:
    """An inline string (never a formula); formula-like text gets the quote-prefix style."""
    if not text:
        return ""
    s = f' s="{quote_style}"' if formula_like(text) else ""
    # A raw CR would come back as LF from any XML parser: written as a character reference.
    text = escape(_ILLEGAL_XML.sub("", text), {"\r": "&#13;"})
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _number_cell(ref: str, value, style: int | None = None) -> str:
    if value is None:
        return ""
    s = f' s="{style}"' if style else ""
    return f'<c r="{ref}"{s} t="n"><v>{value}</v></c>'


# The Tasks sheet's status column: the codes in English (filters and formulas written against
# them keep working), the words in Chinese (DESIGN 13).
_STATUS_CELLS = {
    "pending": pgettext_lazy("report task status", "pending"),
    "accepted": pgettext_lazy("report task status", "accepted"),
    "in_progress": pgettext_lazy("report task status", "in_progress"),
    "ready": pgettext_lazy("report task status", "ready"),
    "completed": pgettext_lazy("report task status", "completed"),
    "cancelled": pgettext_lazy("report task status", "cancelled"),
    "expired": pgettext_lazy("report task status", "expired"),
}


def _serial(value: datetime | None) -> float | None:
    """Excel serial day number of a naive local datetime."""
    if value is None:
        return None
    return round((value - _EXCEL_EPOCH).total_seconds() / 86400, 9)


class _TaskRows:
    """The Tasks sheet: its header through openpyxl, its rows streamed in ``inject``."""

    def __init__(self, wb, organization, period: Period, printing: _Print):
        s = _Sheet(wb, _("Tasks"), [14, 12, 10, 18, 20, 20, 20, 8, 12, 12, 12, 10, 24])
        s.ws.freeze_panes = "A2"
        s.header(
            _("Number"),
            _("Status"),
            _("Workspace"),
            _("Customer"),
            _("Created"),
            pgettext("time column", "Ready"),
            _("Closed"),
            _("Items"),
            _("Subtotal"),
            _("Discount"),
            _("Total"),
            _("Prep (min)"),
            _("Cancel reason"),
        )
        _page_setup(
            s,
            printing,
            landscape=True,
            title_rows="1:1",
            last_column=len(TASK_COLUMNS),
            # The rows are streamed in after openpyxl wrote the sheet: counted here.
            last_row=1 + self._period_tasks(period).count(),
        )
        self.ws = s.ws
        self.money_style = s.cell(0, fmt=MONEY_FORMAT).style_id
        self.date_style = s.cell(datetime(2000, 1, 1), fmt=DATETIME_FORMAT).style_id
        self.quote_style = s.cell("=").style_id
        self.zone = ZoneInfo(organization.timezone)
        self.period = period

    @staticmethod
    def _period_tasks(period: Period):
        return Task.objects.filter(created_at__gte=period.start, created_at__lt=period.end)

    def _queryset(self):
        items = (
            TaskItem.objects.filter(task_id=OuterRef("pk"))
            .order_by()
            .values("task_id")
            .annotate(n=Sum("quantity"))
            .values("n")
        )
        return (
            self._period_tasks(self.period)
            .annotate(n_items=Coalesce(Subquery(items), 0))
            .order_by("created_at", "id")
            .values_list(
                "number",
                "status",
                "workspace",
                "customer_name",
                "created_at",
                "ready_at",
                "completed_at",
                "cancelled_at",
                "expired_at",
                "n_items",
                "subtotal",
                "discount",
                "total",
                "cancel_reason",
            )
        )

    def rows(self):
        """SpreadsheetML ``<row>`` strings, from row 2 on, in chunks."""
        zone, money, when, q = self.zone, self.money_style, self.date_style, self.quote_style
        statuses = {value: str(label) for value, label in _STATUS_CELLS.items()}
        chunk = []
        for r, (
            number,
            status,
            workspace,
            customer,
            created,
            ready,
            completed,
            cancelled,
            expired,
            n_items,
            subtotal,
            discount,
            total,
            reason,
        ) in enumerate(self._queryset().iterator(chunk_size=2000), start=2):
            closed = completed or cancelled or expired
            prep = round((ready - created).total_seconds() / 60, 1) if ready else None
            chunk.append(
                f'<row r="{r}">'
                + _text_cell(f"A{r}", number, q)
                + _text_cell(f"B{r}", statuses.get(status, status), q)
                + _text_cell(f"C{r}", workspace, q)
                + _text_cell(f"D{r}", customer, q)
                + _number_cell(f"E{r}", _serial(_local(created, zone)), when)
                + _number_cell(f"F{r}", _serial(_local(ready, zone)), when)
                + _number_cell(f"G{r}", _serial(_local(closed, zone)), when)
                + _number_cell(f"H{r}", n_items)
                + _number_cell(f"I{r}", subtotal, money)
                + _number_cell(f"J{r}", discount, money)
                + _number_cell(f"K{r}", total, money)
                + _number_cell(f"L{r}", prep)
                + _text_cell(f"M{r}", reason, q)
                + "</row>"
            )
            if len(chunk) >= 1000:
                yield "".join(chunk)
                chunk = []
        if chunk:
            yield "".join(chunk)

    def inject(self, xlsx: bytes) -> bytes:
        """Copy the workbook, streaming the task rows into the Tasks sheet's ``sheetData``."""
        source = zipfile.ZipFile(io.BytesIO(xlsx))
        path = self.ws.path.lstrip("/")  # known once the workbook is saved
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                data = source.read(info.filename)
                if info.filename != path:
                    target.writestr(info, data)
                    continue
                xml = data.decode("utf-8")
                # The dimension openpyxl wrote covers the header only; it is optional: drop it.
                xml = re.sub(r"<dimension [^>]*/>", "", xml)
                head, tail = xml.split("</sheetData>", 1)
                with target.open(path, "w") as fh:
                    fh.write(head.encode("utf-8"))
                    for block in self.rows():
                        fh.write(block.encode("utf-8"))
                    fh.write(("</sheetData>" + tail).encode("utf-8"))
        return out.getvalue()


def build_workbook(organization, metrics: dict, *, title: str, period: Period) -> bytes:
    """The xlsx bytes of one report."""
    wb = Workbook(write_only=True)
    printing = _Print(organization=organization.name, title=title, period=_period_label(metrics))
    try:
        _summary(wb, organization, metrics, title, printing)
        _hourly(wb, metrics, printing)
        _agents(wb, metrics, printing)
        _categories(wb, metrics, printing)
        tasks = _TaskRows(wb, organization, period, printing)
    except Exception:
        # Finish the streamed sheets' temporary files instead of leaving them to the GC.
        for sheet in wb.worksheets:
            sheet.close()
        raise
    buffer = io.BytesIO()
    wb.save(buffer)
    return tasks.inject(buffer.getvalue())
