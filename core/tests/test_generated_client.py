"""A client generated from /api/schema/ drives the whole flow (issue 17 item 3).

As an integrator would: ``openapi-python-client`` (the PyPI generator) builds a package from the
schema the organization's host serves, and that package, unmodified, talks to a real uvicorn
server on the test database: login, catalog, stock, tasks through every transition, events,
reports (a real Celery worker runs the regenerate job), members, screens, and errors parsed into
the generated envelope model. A response the generated code cannot parse (a field the schema
requires but the answer lacks, a null where it promises a date-time) fails here: the schema, not
the client, is then what needs fixing.
"""

import datetime
import importlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from displays.tests.live import LiveServer
from testing.orgs import PASSWORD

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
PACKAGE = "cc_generated_client"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def generate_client(schema: dict, directory: Path):
    """Write ``schema``, run the generator into ``directory`` and import the package."""
    path = directory / "schema.json"
    path.write_text(json.dumps(schema))
    result = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(path),
            "--meta",
            "none",
            "--output-path",
            str(directory / PACKAGE),
        ],
        cwd=directory,
        # The generator formats its output with ruff, found on PATH (the venv's).
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The only warnings allowed: the xlsx downloads, a content type the generator does not
    # model (the function is still generated; its answer is the raw bytes).
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARNING")]
    assert all(w.rstrip(".").endswith("/download/ within " + w.split()[-1].rstrip("."))
               for w in warnings), warnings  # fmt: skip
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    sys.path.insert(0, str(directory))
    try:
        return importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(directory))


def _api(name: str):
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _models():
    return importlib.import_module(f"{PACKAGE}.models")


def _envelope(response, status: int, code: str):
    """The generated ErrorEnvelope of ``response``: its status and code are the expected ones."""
    models = _models()
    assert response.status_code == status, response.content
    assert isinstance(response.parsed, models.ErrorEnvelope), response.content
    assert response.parsed.error.code == code
    assert response.parsed.error.message
    return response.parsed.error


@pytest.fixture
def server(committed_org, tmp_path):
    live = LiveServer(_free_port(), tmp_path).start()
    yield live
    live.stop()


def test_generated_client_drives_the_whole_flow(
    committed_org, server, celery_worker_process, tmp_path
):
    org = committed_org
    schema = APIClient(HTTP_HOST=org.host).get("/api/schema/?format=json").json()
    client_package = generate_client(schema, tmp_path)
    models = _models()
    base_url = f"http://127.0.0.1:{server.port}"
    headers = {"Host": org.host}

    # --- login ------------------------------------------------------------------------------
    anonymous = client_package.Client(base_url=base_url, headers=headers, timeout=30)
    login = _api("auth.auth_token_create").sync_detailed(
        client=anonymous,
        body=models.LoginInputRequest(email=f"manager@{org.organization.slug}.test", password="x"),
    )
    _envelope(login, 401, "INVALID_CREDENTIALS")
    login = _api("auth.auth_token_create").sync_detailed(
        client=anonymous,
        body=models.LoginInputRequest(
            email=f"manager@{org.organization.slug}.test", password=PASSWORD
        ),
    )
    assert login.status_code == 200, login.content
    assert isinstance(login.parsed, models.TokenPair)
    assert login.parsed.role == "manager"
    api = client_package.AuthenticatedClient(
        base_url=base_url, token=login.parsed.access, headers=headers, timeout=30
    )
    me = _api("auth.auth_me_retrieve").sync_detailed(client=api)
    assert me.status_code == 200 and me.parsed.email == f"manager@{org.organization.slug}.test"

    # --- catalog: the create answer carries everything the schema requires ------------------
    category = _api("agent_categories.agent_categories_create").sync_detailed(
        client=api, body=models.AgentCategoryInputRequest(name="Noodles", sort_order=1)
    )
    assert category.status_code == 201, category.content
    assert isinstance(category.parsed, models.AgentCategoryOutput)
    assert category.parsed.agent_count == 0
    duplicate = _api("agent_categories.agent_categories_create").sync_detailed(
        client=api, body=models.AgentCategoryInputRequest(name="", sort_order=1)
    )
    error = _envelope(duplicate, 400, "VALIDATION_ERROR")
    assert "name" in error.details.additional_properties["fields"]

    agents_create = _api("agents.agents_create")
    ramen = agents_create.sync_detailed(
        client=api,
        body=models.AgentCreateInputRequest(
            name="Ramen", category=category.parsed.id, unit_price="12.50", stock=2
        ),
    )
    assert ramen.status_code == 201, ramen.content
    assert ramen.parsed.stock == 2 and ramen.parsed.unit_price == "12.50"
    tea = agents_create.sync_detailed(
        client=api,
        body=models.AgentCreateInputRequest(
            name="Tea", category=category.parsed.id, unit_price="3"
        ),
    )
    assert tea.status_code == 201, tea.content
    assert tea.parsed.stock is None  # unlimited: a null the client must accept
    ramen, tea = ramen.parsed, tea.parsed
    listed = _api("agents.agents_list").sync_detailed(client=api, ordering="name")
    assert listed.status_code == 200, listed.content
    assert listed.parsed.count == 2
    assert [a.name for a in listed.parsed.results] == ["Ramen", "Tea"]
    categories = _api("agent_categories.agent_categories_list").sync_detailed(client=api)
    assert [c.agent_count for c in categories.parsed.results] == [2]

    # --- stock ------------------------------------------------------------------------------
    adjusted = _api("agents.agents_stock_adjustments_create").sync_detailed(
        id=ramen.id, client=api, body=models.StockAdjustmentInputRequest(reason="delivery", delta=8)
    )
    assert adjusted.status_code == 201, adjusted.content
    assert adjusted.parsed.agent.stock == 10
    assert adjusted.parsed.movement.delta == 8

    # --- a task of 3 items, through every transition ----------------------------------------
    tasks = "tasks.tasks_"
    body = models.TaskCreateInputRequest(
        items=[
            models.TaskItemInputRequest(agent_id=ramen.id, quantity=2),
            models.TaskItemInputRequest(agent_id=tea.id, quantity=1),
            models.TaskItemInputRequest(agent_id=ramen.id, quantity=1, notes="no onion"),
        ],
        workspace="T4",
        customer_name="Li",
    )
    key = uuid.uuid4().hex
    created = _api(tasks + "create").sync_detailed(client=api, body=body, idempotency_key=key)
    assert created.status_code == 201, created.content
    task = created.parsed
    assert isinstance(task, models.Task)
    assert task.status == models.TaskStatusEnum.PENDING
    assert len(task.items) == 3 and task.subtotal == "40.50"
    # Every status timestamp but created_at is null on a new task.
    assert (task.accepted_at, task.started_at, task.ready_at, task.completed_at) == (None,) * 4
    assert task.cancelled_at is None and task.expired_at is None
    assert isinstance(task.created_at, datetime.datetime) and task.created_at.tzinfo

    # The same key with another body: 422 in the envelope.
    other = models.TaskCreateInputRequest(
        items=[models.TaskItemInputRequest(agent_id=tea.id, quantity=5)]
    )
    reused = _api(tasks + "create").sync_detailed(client=api, body=other, idempotency_key=key)
    _envelope(reused, 422, "IDEMPOTENCY_KEY_REUSED")

    stamps = {"accept": "accepted_at", "start": "started_at", "ready": "ready_at"}
    for action in ("accept", "start", "ready", "complete"):
        moved = _api(f"{tasks}{action}_create").sync_detailed(id=task.id, client=api)
        assert moved.status_code == 200, (action, moved.content)
        assert isinstance(moved.parsed.updated_at, datetime.datetime)
        if action in stamps:
            assert getattr(moved.parsed, stamps[action]) is not None
    assert moved.parsed.status == models.TaskStatusEnum.COMPLETED
    assert moved.parsed.completed_at >= moved.parsed.ready_at >= moved.parsed.accepted_at
    again = _api(tasks + "accept_create").sync_detailed(id=task.id, client=api)
    error = _envelope(again, 409, "INVALID_TRANSITION")
    assert error.details.additional_properties["from"] == "completed"
    missing = _api(tasks + "retrieve").sync_detailed(id=10**17, client=api)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.ErrorEnvelope)

    # Another task, cancelled: its stock comes back.
    second = _api(tasks + "create").sync_detailed(
        client=api,
        body=models.TaskCreateInputRequest(
            items=[models.TaskItemInputRequest(agent_id=ramen.id, quantity=4)]
        ),
    )
    assert second.status_code == 201, second.content
    cancelled = _api(tasks + "cancel_create").sync_detailed(
        id=second.parsed.id, client=api, body=models.TaskCancelInputRequest(reason="customer left")
    )
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.parsed.status == models.TaskStatusEnum.CANCELLED
    assert cancelled.parsed.cancelled_at is not None
    assert cancelled.parsed.cancel_reason == "customer left"

    # More than the stock: 409 INSUFFICIENT_STOCK with what is short, in the generated model.
    short = _api(tasks + "create").sync_detailed(
        client=api,
        body=models.TaskCreateInputRequest(
            items=[models.TaskItemInputRequest(agent_id=ramen.id, quantity=50)]
        ),
    )
    error = _envelope(short, 409, "INSUFFICIENT_STOCK")
    assert error.details.additional_properties["agents"] == [
        {"agent_id": ramen.id, "name": "Ramen", "requested": 50, "available": 7}
    ]

    listed = _api(tasks + "list").sync_detailed(client=api)
    assert listed.status_code == 200, listed.content
    assert {t.id for t in listed.parsed.results} == {task.id, second.parsed.id}

    # --- events -----------------------------------------------------------------------------
    events = _api(tasks + "events_retrieve").sync_detailed(client=api, after_seq=0)
    assert events.status_code == 200, events.content
    kinds = [e.type_ for e in events.parsed.results]
    assert kinds.count("task.created") == 2
    assert kinds.count("task.status_changed") == 4
    assert "task.cancelled" in kinds
    seqs = [e.seq for e in events.parsed.results]
    assert seqs == sorted(seqs) and events.parsed.has_more is False

    # --- reports: the live dashboard, and a daily report regenerated by a real worker ----------
    today = task.business_date  # the organization's business day, not the machine's date
    dashboard = _api("reports.reports_dashboard_retrieve").sync_detailed(
        client=api, from_=today, to=today
    )
    assert dashboard.status_code == 200, dashboard.content
    metrics = dashboard.parsed.additional_properties
    assert metrics["tasks_total"] == 2 and metrics["revenue"] == "40.50"
    regenerate = _api("reports.reports_daily_regenerate_create")
    still_open = regenerate.sync_detailed(
        client=api, body=models.DailyRegenerateRequest(date=today)
    )
    error = _envelope(still_open, 400, "VALIDATION_ERROR")
    assert "date" in error.details.additional_properties["fields"]
    yesterday = today - datetime.timedelta(days=1)
    job = regenerate.sync_detailed(client=api, body=models.DailyRegenerateRequest(date=yesterday))
    assert job.status_code == 202, job.content
    assert isinstance(job.parsed, models.ReportJob)
    jobs_retrieve = _api("reports.reports_jobs_retrieve")
    deadline = time.monotonic() + 60
    while job.parsed.status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        job = jobs_retrieve.sync_detailed(id=job.parsed.id, client=api)
        assert job.status_code == 200, job.content
    assert job.parsed.status == "succeeded", (job.content, celery_worker_process.log_path)
    report = _api("reports.reports_daily_retrieve").sync_detailed(
        id=job.parsed.report_id, client=api
    )
    assert report.status_code == 200, report.content
    assert report.parsed.business_date == yesterday
    assert report.parsed.status == "ready"
    download = _api("reports.reports_daily_download_retrieve").sync_detailed(
        id=job.parsed.report_id, client=api
    )
    assert download.status_code == 200 and download.content[:2] == b"PK"  # an xlsx (zip)

    # --- screens (a manager's) and members (the owner's: 403 in the envelope for a manager) ---
    screen = _api("screens.screens_create").sync_detailed(
        client=api,
        body=models.ScreenCreateRequest(name="Hot line", station=[category.parsed.id]),
    )
    assert screen.status_code == 201, screen.content
    assert isinstance(screen.parsed, models.ScreenWithToken)
    assert screen.parsed.token and screen.parsed.station == [category.parsed.id]
    assert screen.parsed.last_seen_at is None and screen.parsed.revoked_at is None
    screens = _api("screens.screens_list").sync_detailed(client=api)
    assert [x.name for x in screens.parsed.results] == ["Hot line"]

    members_list = _api("members.members_list")
    _envelope(members_list.sync_detailed(client=api), 403, "PERMISSION_DENIED")
    owner_login = _api("auth.auth_token_create").sync_detailed(
        client=anonymous,
        body=models.LoginInputRequest(
            email=f"owner@{org.organization.slug}.test", password=PASSWORD
        ),
    )
    assert owner_login.status_code == 200 and owner_login.parsed.role == "owner"
    owner = client_package.AuthenticatedClient(
        base_url=base_url, token=owner_login.parsed.access, headers=headers, timeout=30
    )
    members = members_list.sync_detailed(client=owner, ordering="email")
    assert members.status_code == 200, members.content
    assert sorted(m.role for m in members.parsed.results) == ["manager", "owner", "staff"]
    assert all(isinstance(m.created_at, datetime.datetime) for m in members.parsed.results)


def test_task_create_documents_examples_for_its_answer_and_errors(acme):
    schema = APIClient(HTTP_HOST=acme.host).get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/tasks/"]["post"]
    request = operation["requestBody"]["content"]["application/json"]
    assert request["examples"], "a request example for task create"
    codes = {}
    for status in ("201", "400", "409", "422"):
        content = operation["responses"][status]["content"]["application/json"]
        examples = content.get("examples") or {}
        assert examples, f"no example for {status}"
        codes[status] = {
            e["value"]["error"]["code"] for e in examples.values() if "error" in e["value"]
        }
    assert codes["400"] >= {"VALIDATION_ERROR", "AGENT_NOT_FOUND"}
    assert codes["409"] >= {"INSUFFICIENT_STOCK", "AGENT_UNAVAILABLE", "IDEMPOTENCY_IN_PROGRESS"}
    assert codes["422"] == {"IDEMPOTENCY_KEY_REUSED"}
    # Ids in the path of every task action are integers, as in the bodies.
    for path, item in schema["paths"].items():
        if path.startswith("/api/v1/tasks/{id}/"):
            for method, op in item.items():
                (param,) = [p for p in op["parameters"] if p["name"] == "id"]
                assert param["schema"]["type"] == "integer", (method, path)
