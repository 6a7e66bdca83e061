"""What an export contains: one JSON Lines file per table of the organization (DESIGN 12).

Every file holds one JSON object per row, in primary-key order, with the table's own columns
(foreign keys as ``<name>_id``); money as strings, times in ISO 8601 (UTC). Left out, on
purpose (docs/export.md): secrets (a screen's token hash), the report rows' file names (the
workbooks themselves are in the archive, ``reports/``), and the tables that only run the
service (counters, idempotency keys, job rows, reconciliation runs).

Models are named by label and resolved when the export runs, so a model that moves to another
app (the event log did) only changes a label here.
"""

from dataclasses import dataclass

from django.apps import apps
from django.db.models import F, QuerySet


@dataclass(frozen=True)
class ExportTable:
    """One file of the archive and the rows that go into it."""

    file: str
    model: str  # "app_label.ModelName"
    exclude: tuple[str, ...] = ()
    # Extra columns read through a relation: (column in the file, ORM lookup).
    joined: tuple[tuple[str, str], ...] = ()
    # A table of the public schema: the lookup naming the organization (rows of this one only).
    organization_lookup: str = ""

    def model_class(self):
        return apps.get_model(self.model)

    def columns(self) -> list[str]:
        """The model's own columns in the file (attribute names: ``category_id``)."""
        return [
            field.attname
            for field in self.model_class()._meta.concrete_fields
            if field.name not in self.exclude and field.attname not in self.exclude
        ]

    def queryset(self, organization) -> QuerySet:
        """The rows, as dicts, in primary-key order (stable across runs: resumable reads)."""
        queryset = self.model_class()._base_manager.all()
        if self.organization_lookup:
            queryset = queryset.filter(**{self.organization_lookup: organization.pk})
        extra = {name: F(lookup) for name, lookup in self.joined}
        return queryset.order_by("pk").values(*self.columns(), **extra)


EXPORT_TABLES: tuple[ExportTable, ...] = (
    # The people behind the user ids in the other files (public schema: this organization's).
    ExportTable(
        "members.jsonl",
        "accounts.Membership",
        exclude=("organization",),
        joined=(("email", "user__email"), ("full_name", "user__full_name")),
        organization_lookup="organization_id",
    ),
    ExportTable("categories.jsonl", "agents.AgentCategory"),
    ExportTable("agents.jsonl", "agents.Agent"),
    ExportTable("stock_movements.jsonl", "agents.StockMovement"),
    ExportTable("tasks.jsonl", "tasks.Task"),
    ExportTable("task_items.jsonl", "tasks.TaskItem"),
    ExportTable("task_notes.jsonl", "tasks.TaskNote"),
    ExportTable("task_events.jsonl", "events.TaskEvent"),
    # Metrics only: the workbooks are files of the archive (reports/daily/<date>.xlsx ...).
    ExportTable("daily_reports.jsonl", "reports.DailyReport", exclude=("file", "task_id")),
    ExportTable("monthly_reports.jsonl", "reports.MonthlyReport", exclude=("file", "task_id")),
    ExportTable("audit_events.jsonl", "audit.AuditEvent"),
    # Never the token hash: it would let anyone holding the archive test guessed tokens.
    ExportTable("screens.jsonl", "displays.Screen", exclude=("token_hash",)),
)
