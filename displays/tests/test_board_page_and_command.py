import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from events.models import TaskEvent
from tasks.models import Task
from testing.factories import agent_make, category_make


class TestBoardPage:
    def test_served_on_the_organization_host_without_auth(self, acme):
        response = Client(HTTP_HOST=acme.host).get("/display/")
        assert response.status_code == 200
        html = response.content.decode()
        assert "display/board.js" in html and "display/board.css" in html
        assert 'data-ws-path="/ws/v1/tasks/"' in html
        assert acme.organization.name in html
        assert response["Cache-Control"].startswith("max-age=0")

    def test_unknown_host_is_404(self, db):
        response = Client(HTTP_HOST="nowhere.localhost").get("/display/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "TENANT_NOT_FOUND"

    def test_suspended_organization_is_403(self, acme, restore_org):
        acme.organization.is_active = False
        acme.organization.save(update_fields=["is_active"])
        response = Client(HTTP_HOST=acme.host).get("/display/")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "ORGANIZATION_SUSPENDED"


class TestSimulateTraffic:
    def test_creates_and_advances_tasks(self, acme):
        with acme.active():
            category = category_make(name="Hot")
            agent_make(name="Soup", category=category, price="9.00")
        out = io.StringIO()
        call_command(
            "simulate_traffic",
            org=acme.organization.slug,
            rate=20,
            duration=0.5,
            seed=1,
            stdout=out,
        )
        with acme.active():
            assert Task.objects.count() >= 3
            assert TaskEvent.objects.filter(type="task.created").count() == Task.objects.count()
        assert "stopped" in out.getvalue()

    def test_unknown_organization(self, db):
        with pytest.raises(CommandError):
            call_command("simulate_traffic", org="nope", duration=0.1)

    def test_needs_a_catalog(self, acme):
        with pytest.raises(CommandError, match="no available agents"):
            call_command("simulate_traffic", org=acme.organization.slug, duration=0.1)
