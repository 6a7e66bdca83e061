"""Task notes (thread, feedback score) and the score in the report metrics and the Excel file."""

import io
from datetime import timedelta

from django.utils import timezone
from openpyxl import load_workbook

from organizations.business_day import business_date
from reports.metrics import Period, compute_metrics
from reports.xlsx import build_workbook
from tasks.choices import TaskStatus
from tasks.models import TaskNote
from tasks.services import task_advance, task_create, task_note_create

URL = "/api/v1/tasks/"


def _task(acme, catalog, *, completed=False):
    task = task_create(
        user=acme.users["staff"], items=[{"agent_id": catalog.noodles.id, "quantity": 1}]
    )
    while completed and task.status != TaskStatus.COMPLETED:
        task = task_advance(task_id=task.pk)
    return task


def test_staff_adds_notes_and_reads_the_thread(acme, catalog):
    task = _task(acme, catalog)
    client = acme.client("staff")
    first = client.post(f"{URL}{task.pk}/notes/", {"text": "  Table asks for chopsticks "})
    assert first.status_code == 201, first.json()
    staff = acme.users["staff"]
    assert first.json()["text"] == "Table asks for chopsticks"
    assert first.json()["author"] == {"id": staff.pk, "name": staff.email}
    assert first.json()["score"] is None and first.json()["task_id"] == task.pk
    acme.client("manager").post(f"{URL}{task.pk}/notes/", {"text": "送餐晚了"}, format="json")
    thread = client.get(f"{URL}{task.pk}/notes/").json()
    assert thread["count"] == 2
    assert [n["text"] for n in thread["results"]] == ["Table asks for chopsticks", "送餐晚了"]
    assert client.get(f"{URL}99999999/notes/").status_code == 404
    assert acme.client().get(f"{URL}{task.pk}/notes/").status_code == 401


def test_note_validation_and_score_only_once_completed(acme, catalog):
    task = _task(acme, catalog)
    client = acme.client("staff")

    def post(body, task_id=task.pk):
        response = client.post(f"{URL}{task_id}/notes/", body, format="json")
        return response

    for body, field in [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 1001}, "text"),
        ({}, "text"),
        ({"text": "ok", "score": 0}, "score"),
        ({"text": "ok", "score": 6}, "score"),
        ({"text": "ok", "score": "great"}, "score"),
        ({"text": "ok", "author": 1}, "author"),
    ]:
        response = post(body)
        assert response.status_code == 400, body
        assert field in response.json()["error"]["details"]["fields"], body
    # A score before the task is completed: 400 naming score.
    early = post({"text": "good", "score": 5})
    assert early.status_code == 400
    assert "score" in early.json()["error"]["details"]["fields"]
    assert post({"text": "x" * 1000}).status_code == 201
    done = _task(acme, catalog, completed=True)
    scored = post({"text": "Delicious", "score": 5}, task_id=done.pk)
    assert scored.status_code == 201 and scored.json()["score"] == 5
    assert TaskNote.objects.filter(task=done, score=5).count() == 1


def test_reports_average_the_scores_and_count_the_notes(acme, catalog, tmp_path):
    now = timezone.now()
    day = business_date(acme.organization, now)
    tasks = [_task(acme, catalog, completed=True) for _ in range(3)]
    for task, score in zip(tasks, (5, 4, None), strict=True):
        task_note_create(task_id=task.pk, user=acme.users["staff"], text="t", score=score)
    task_note_create(task_id=tasks[0].pk, user=acme.users["staff"], text="thanks", score=2)
    # Yesterday's task: not in today's figures.
    old = _task(acme, catalog, completed=True)
    old.created_at = now - timedelta(days=1, hours=1)
    old.save(update_fields=["created_at"])
    task_note_create(task_id=old.pk, user=acme.users["staff"], text="old", score=1)

    metrics = compute_metrics(acme.organization, day, day)
    assert metrics["feedback"] == {"notes": 4, "scores": 3, "average_score": 3.67}

    # The dashboard computes the same metrics for any range.
    response = acme.client("manager").get(
        "/api/v1/reports/dashboard/", {"from": day.isoformat(), "to": day.isoformat()}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    feedback = body.get("feedback") or body.get("metrics", {}).get("feedback")
    assert feedback == {"notes": 4, "scores": 3, "average_score": 3.67}

    period = Period.of(acme.organization, day, day)
    content = build_workbook(acme.organization, metrics, title="Daily", period=period)
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    rows = {row[0]: row[1] for row in sheet.iter_rows(values_only=True) if row and row[0]}
    label = next(k for k in rows if isinstance(k, str) and "feedback score" in k)
    assert "3 scores" in label
    assert rows[label] == 3.67


def test_summary_of_a_report_without_notes_has_an_empty_score(acme, catalog):
    day = business_date(acme.organization, timezone.now())
    metrics = compute_metrics(acme.organization, day, day)
    assert metrics["feedback"] == {"notes": 0, "scores": 0, "average_score": None}
    metrics.pop("feedback")  # a report stored before notes existed
    period = Period.of(acme.organization, day, day)
    content = build_workbook(acme.organization, metrics, title="Daily", period=period)
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    rows = {row[0]: row[1] for row in sheet.iter_rows(values_only=True) if row and row[0]}
    label = next(k for k in rows if isinstance(k, str) and "feedback score" in k)
    assert rows[label] is None
