"""The owner's export end to end, with a REAL Celery worker process: request (202), poll the job
until done, download the zip, and check every file of it against the database; owner only
(manager 403), another organization's job is a 404, an expired link is 410 and its file is
gone, the broker down is a quick 503 that leaves no job waiting; the operators' admin action
queues the same job and shows its progress, and the operator downloads it.

The worker and this process share the test MEDIA_ROOT (config/settings/test.py): the files are
under each organization's own ``<schema>/`` prefix, removed after each test."""

import io
import json
import shutil
import time
import uuid
import zipfile
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from accounts.models import User
from agents.models import Agent, AgentCategory, StockMovement
from agents.services import agent_create, agent_stock_adjust, category_create
from audit.models import AuditEvent
from displays.models import Screen
from displays.services import screen_create
from events.models import TaskEvent
from exports.choices import ExportStatus
from exports.models import ExportJob
from exports.services import export_storage_name
from organizations.business_day import business_date
from organizations.models import Organization, PlatformAuditEvent
from reports.choices import ReportKind
from reports.models import DailyReport
from reports.services import report_generate
from reports.tests.test_broker_down import UNREACHABLE, broker_at
from tasks.choices import TaskStatus
from tasks.models import Task, TaskItem, TaskNote
from tasks.services import task_create, task_note_create, task_transition
from testing.orgs import make_org

pytestmark = pytest.mark.slow

EXPORT = "/api/v1/organization/export/"
TABLE_FILES = {
    "members.jsonl",
    "categories.jsonl",
    "agents.jsonl",
    "stock_movements.jsonl",
    "tasks.jsonl",
    "task_items.jsonl",
    "task_notes.jsonl",
    "task_events.jsonl",
    "daily_reports.jsonl",
    "monthly_reports.jsonl",
    "audit_events.jsonl",
    "screens.jsonl",
}


@pytest.fixture
def clean_media(committed_org):
    yield
    shutil.rmtree(Path(settings.MEDIA_ROOT) / committed_org.schema, ignore_errors=True)


def _populate(org) -> dict:
    """A small organization: 2 categories, 3 agents (one with stock), 3 tasks (one cancelled),
    a note, a stock adjustment, a screen and yesterday's daily report with its workbook."""
    owner = org.users["owner"]
    with org.active():
        hot = category_create(name="Hot", sort_order=1)
        bar = category_create(name="Bar", sort_order=2)
        soup = agent_create(name="Soup 汤", category=hot, unit_price=Decimal("12.50"), stock=20)
        rice = agent_create(name="Rice", category=hot, unit_price=Decimal("2.00"))
        beer = agent_create(name="Beer", category=bar, unit_price=Decimal("8.00"))
        agent_stock_adjust(agent_id=soup.pk, user=owner, note="delivery", delta=5)
        tasks = [
            task_create(
                user=owner,
                items=[
                    {"agent_id": soup.pk, "quantity": 2, "notes": "no salt"},
                    {"agent_id": rice.pk, "quantity": 1, "notes": ""},
                ],
                workspace="A01",
                customer_name="=HYPERLINK()",
            ),
            task_create(user=owner, items=[{"agent_id": beer.pk, "quantity": 3, "notes": ""}]),
            task_create(user=owner, items=[{"agent_id": soup.pk, "quantity": 1, "notes": ""}]),
        ]
        task_note_create(task_id=tasks[0].pk, user=owner, text="Table by the window")
        task_transition(
            task_id=tasks[2].pk, to_status=TaskStatus.CANCELLED, user=owner, reason="left"
        )
        screen, token = screen_create(name="Pass", station=[hot.pk])
        day = business_date(org.organization) - timedelta(days=1)
        report = report_generate(kind=ReportKind.DAILY, period=day)
        assert report is not None and report.file
        return {"token_hash": screen.token_hash, "token": token, "day": day, "task": tasks[0]}


def _wait_done(client, job_id: int, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        body = client.get(f"{EXPORT}{job_id}/").json()
        seen.append((body["status"], body["rows_written"], body["rows_total"]))
        if body["status"] in ("done", "failed"):
            return body
        assert time.monotonic() < deadline, f"export not done in {timeout}s: {seen[-5:]}"
        time.sleep(0.3)


def _lines(archive: zipfile.ZipFile, name: str) -> list[dict]:
    return [json.loads(line) for line in archive.read(name).decode().splitlines()]


def test_owner_exports_downloads_and_the_link_expires(
    committed_org, celery_worker_process, clean_media
):
    org = committed_org
    facts = _populate(org)
    owner = org.client("owner")

    response = owner.post(EXPORT, {}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "queued" and job["download_url"] is None
    # Asked again while it is queued or running: the same export, not a second one.
    again = owner.post(EXPORT, {}, format="json")
    assert again.status_code == 202 and again.json()["id"] == job["id"]

    done = _wait_done(owner, job["id"])
    assert done["status"] == "done", done["error"]
    assert done["progress"] == 1.0 and done["rows_written"] == done["rows_total"] > 0
    assert done["download_url"] == f"{EXPORT}{job['id']}/download/"
    assert done["size_bytes"] > 0
    finished = datetime.fromisoformat(done["finished_at"])
    expires = datetime.fromisoformat(done["expires_at"])
    assert expires - finished == timedelta(hours=24)

    # The owner's request is in the organization's audit trail.
    with org.active():
        audit = AuditEvent.objects.get(action="export.create")
        owner_email = org.users["owner"].email
        assert (audit.actor_type, audit.actor_label) == ("user", owner_email)
        assert audit.target_id == str(job["id"])

    download = owner.get(done["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    assert f"{org.organization.slug}-export-" in download["Content-Disposition"]
    raw = b"".join(download.streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(raw))
    assert archive.testzip() is None
    names = set(archive.namelist())
    report_name = f"reports/daily/{facts['day']:%Y-%m-%d}.xlsx"
    assert names == TABLE_FILES | {"manifest.json", report_name}

    with org.active():
        expected = {
            "categories.jsonl": AgentCategory.objects.count(),
            "agents.jsonl": Agent.objects.count(),
            "stock_movements.jsonl": StockMovement.objects.count(),
            "tasks.jsonl": Task.objects.count(),
            "task_items.jsonl": TaskItem.objects.count(),
            "task_notes.jsonl": TaskNote.objects.count(),
            "task_events.jsonl": TaskEvent.objects.count(),
            "daily_reports.jsonl": DailyReport.objects.count(),
            "monthly_reports.jsonl": 0,
            "audit_events.jsonl": AuditEvent.objects.count(),
            "screens.jsonl": Screen.objects.count(),
            "members.jsonl": 3,
        }
        task = Task.objects.get(pk=facts["task"].pk)
        items = {item.pk: item for item in TaskItem.objects.filter(task=task)}
        report = DailyReport.objects.get()
    assert expected["categories.jsonl"] == 2 and expected["agents.jsonl"] == 3
    assert expected["tasks.jsonl"] == 3 and expected["task_items.jsonl"] == 4
    assert expected["stock_movements.jsonl"] >= 4  # initial, adjustment, 2 orders, the cancel
    for name, rows in expected.items():
        assert len(_lines(archive, name)) == rows, name
    # The request's audit row committed before the job ran: it is in the file.
    assert any(row["action"] == "export.create" for row in _lines(archive, "audit_events.jsonl"))

    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["organization"]["slug"] == org.organization.slug
    assert {name: spec["rows"] for name, spec in manifest["files"].items()} == expected
    assert manifest["reports"] == [report_name]
    assert done["tables"] == expected

    # Rows carry the table's columns, money as strings, times with an offset, text as text.
    (task_row,) = [row for row in _lines(archive, "tasks.jsonl") if row["id"] == task.pk]
    assert task_row["number"] == task.number
    assert task_row["total"] == str(task.total) and task_row["subtotal"] == "27.00"
    assert task_row["customer_name"] == "=HYPERLINK()"
    assert task_row["created_by_id"] == org.users["owner"].pk
    assert datetime.fromisoformat(task_row["created_at"]) == task.created_at
    item_rows = [row for row in _lines(archive, "task_items.jsonl") if row["task_id"] == task.pk]
    assert {row["id"]: (row["agent_name"], row["quantity"]) for row in item_rows} == {
        pk: (item.agent_name, item.quantity) for pk, item in items.items()
    }
    assert {row["name"] for row in _lines(archive, "agents.jsonl")} == {"Soup 汤", "Rice", "Beer"}
    events = _lines(archive, "task_events.jsonl")
    assert [row["seq"] for row in events] == sorted(row["seq"] for row in events)
    assert {"seq", "type", "task_id", "payload", "actor", "at"} <= set(events[0])
    members = {row["email"]: row["role"] for row in _lines(archive, "members.jsonl")}
    assert members == {f"{role}@{org.organization.slug}.test": role for role in org.users}
    (screen_row,) = _lines(archive, "screens.jsonl")
    assert screen_row["name"] == "Pass" and "token_hash" not in screen_row
    assert facts["token_hash"].encode() not in raw
    (report_row,) = _lines(archive, "daily_reports.jsonl")
    assert report_row["business_date"] == facts["day"].isoformat()
    assert report_row["metrics"] == json.loads(json.dumps(report.metrics))
    assert "file" not in report_row
    workbook = load_workbook(io.BytesIO(archive.read(report_name)), read_only=True)
    assert "Summary" in workbook.sheetnames

    # The file is under the organization's storage prefix.
    stored = export_storage_name(schema=org.schema, job_id=job["id"])
    assert default_storage.exists(stored)

    # 24 h later: 410, the file is deleted, the job says expired.
    with org.active():
        ExportJob.objects.filter(pk=job["id"]).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    connection.set_schema_to_public()
    gone = owner.get(done["download_url"])
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "EXPORT_EXPIRED"
    assert not default_storage.exists(stored)
    status = owner.get(f"{EXPORT}{job['id']}/").json()
    assert status["status"] == "expired" and status["download_url"] is None
    assert owner.get(done["download_url"]).status_code == 410


def test_owner_only_and_other_organizations_see_nothing(
    committed_org, celery_worker_process, clean_media
):
    org = committed_org
    _populate(org)
    owner = org.client("owner")
    job = owner.post(EXPORT, {}, format="json").json()
    done = _wait_done(owner, job["id"])
    assert done["status"] == "done"
    detail, download = f"{EXPORT}{job['id']}/", f"{EXPORT}{job['id']}/download/"

    for role in ("manager", "staff"):
        client = org.client(role)
        for response in (
            client.post(EXPORT, {}, format="json"),
            client.get(detail),
            client.get(download),
        ):
            assert response.status_code == 403, (role, response.content)
            assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert org.client().get(detail).status_code == 401

    connection.set_schema_to_public()
    other = make_org(f"exo-{uuid.uuid4().hex[:6]}")
    try:
        # The other organization's owner, on its own host: acme's job id is not there.
        for url in (detail, download):
            response = other.client("owner").get(url)
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "EXPORT_NOT_FOUND"
        # A token of the other organization on this host: refused before any lookup.
        foreign = other.client("owner")
        foreign.defaults["HTTP_HOST"] = org.host
        assert foreign.get(detail).status_code == 401
    finally:
        connection.set_schema_to_public()
        Organization.objects.get(pk=other.organization.pk).delete(force_drop=True)
    # Only one export was made, and only by the owner.
    with org.active():
        assert ExportJob.objects.count() == 1


def test_broker_down_is_a_quick_503_and_no_job_is_left_waiting(
    committed_org, celery_worker_process, clean_media
):
    org = committed_org
    owner = org.client("owner")
    started = time.monotonic()
    with broker_at(UNREACHABLE):
        response = owner.post(EXPORT, {}, format="json")
    assert time.monotonic() - started < 5
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "JOB_QUEUE_UNAVAILABLE"
    with org.active():
        (job,) = ExportJob.objects.all()
        assert job.status == ExportStatus.FAILED
        assert job.error.startswith("JOB_QUEUE_UNAVAILABLE")
        assert job.finished_at is not None
    connection.set_schema_to_public()

    # The broker is back: a new export is queued (not the failed one) and the worker runs it.
    response = owner.post(EXPORT, {}, format="json")
    assert response.status_code == 202
    assert response.json()["id"] != job.pk
    assert _wait_done(owner, response.json()["id"])["status"] == "done"


def test_operator_exports_from_the_admin_and_downloads(
    committed_org, celery_worker_process, clean_media
):
    org = committed_org
    _populate(org)
    operator = User.objects.create_superuser(
        email=f"ops-{uuid.uuid4().hex[:6]}@platform.test", password="pw-ops-123!"
    )
    try:
        ops = Client(HTTP_HOST=settings.PUBLIC_DOMAIN)
        ops.force_login(operator)
        changelist = "/admin/organizations/organization/"
        response = ops.post(
            changelist,
            {"action": "export_data", "_selected_action": [org.organization.pk]},
        )
        assert response.status_code == 302
        event = PlatformAuditEvent.objects.get(
            organization_ref=org.organization.pk, action="organization.export"
        )
        assert event.actor_label == operator.email
        with org.active():
            job = ExportJob.objects.get()
            assert job.requested_via == "operator" and job.requested_by_id is None
            # Operators' exports are in the platform audit, not the organization's.
            assert not AuditEvent.objects.filter(action="export.create").exists()
        connection.set_schema_to_public()

        deadline = time.monotonic() + 90
        while True:
            with org.active():
                job.refresh_from_db()
            connection.set_schema_to_public()
            if job.status == ExportStatus.DONE:
                break
            assert job.status != ExportStatus.FAILED, job.error
            assert time.monotonic() < deadline
            time.sleep(0.3)

        page = ops.get(f"{changelist}{org.organization.pk}/change/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "Exports" in html and f"({job.rows_written}/{job.rows_total})" in html
        assert "100%" in html
        url = f"{changelist}{org.organization.pk}/export/{job.pk}/download/"
        assert url in html
        download = ops.get(url)
        assert download.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
        assert set(archive.namelist()) >= TABLE_FILES
        assert len(_lines(archive, "tasks.jsonl")) == 3
        # Not for anyone else: a member of the organization is no operator.
        member = Client(HTTP_HOST=settings.PUBLIC_DOMAIN)
        member.force_login(org.users["owner"])
        assert member.get(url).status_code == 302  # to the admin login
    finally:
        connection.set_schema_to_public()
