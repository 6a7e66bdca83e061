"""What the board needs from the server (issue 15): the page's settings and translated strings,
the ``agent.restocked`` event that clears the stock strip, the snapshot's stock alerts and
recall candidates, screens in expo mode (API, ticket, and a bump that completes the task over
the real socket)."""

import json
import re
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import translation

from agents.models import Agent
from agents.stock import agents_lock, stock_adjust, stock_set_limited
from core.locale import organization_language
from displays.board import BOARD_STRINGS
from displays.services import screen_update
from events.models import TaskEvent
from testing.factories import agent_make, category_make

from .conftest import receive_until, run
from .test_consumer import _open

BOARD_JS = Path(settings.BASE_DIR) / "static" / "display" / "board.js"


def _config(response) -> dict:
    html = response.content.decode()
    match = re.search(r'<script id="board-config" type="application/json">(.*?)</script>', html)
    assert match, "the page carries its JSON blob"
    return json.loads(match.group(1))


class TestBoardPage:
    def test_settings_and_strings_in_the_requested_language(self, acme):
        response = Client(HTTP_HOST=acme.host).get("/display/?lang=en")
        assert response.status_code == 200
        assert response["Content-Language"] == "en"
        assert '<html lang="en">' in response.content.decode()
        config = _config(response)
        organization = acme.organization
        assert config["language"] == "en"
        assert config["timezone"] == organization.timezone
        assert config["recall_minutes"] == organization.recall_minutes
        assert config["card_amber_minutes"] == organization.card_amber_minutes
        assert config["recall_tray_size"] == 20
        assert config["strings"]["status_pending"] == "Pending"
        assert config["strings"]["active_count"] == "{n} active"
        assert set(config["strings"]) == set(BOARD_STRINGS)
        assert all(isinstance(v, str) and v for v in config["strings"].values())
        # The help overlay documents the keys.
        html = response.content.decode()
        for key in ("Enter", "PgDn", "PgUp", "Esc"):
            assert f"<kbd>{key}</kbd>" in html

    def test_the_organization_language_by_default_and_aliases(self, acme):
        expected = organization_language(acme.organization)
        config = _config(Client(HTTP_HOST=acme.host).get("/display/"))
        assert config["language"] == expected
        # A browser saying English does not turn a board English (the board is the org's).
        page = Client(HTTP_HOST=acme.host, HTTP_ACCEPT_LANGUAGE="zh-CN").get("/display/")
        assert _config(page)["language"] == expected
        chinese = _config(Client(HTTP_HOST=acme.host).get("/display/?lang=zh-CN"))
        assert chinese["language"] == "zh-hans"
        with translation.override("zh-hans"):
            assert chinese["strings"]["status_ready"] == str(BOARD_STRINGS["status_ready"])
        unknown = _config(Client(HTTP_HOST=acme.host).get("/display/?lang=xx"))
        assert unknown["language"] == expected

    def test_every_string_the_script_reads_is_provided(self):
        # board.js has no English of its own: every S.<key> it reads is in the page's blob.
        source = BOARD_JS.read_text()
        used = set(re.findall(r"\bS\.(\w+)", source))
        used |= {f"status_{s}" for s in ("pending", "accepted", "in_progress", "ready")}
        used.add("status_completed")  # S["status_" + entry.to] in the recall tray
        assert used, "the script reads its strings from S"
        assert used <= set(BOARD_STRINGS), used - set(BOARD_STRINGS)


def _events(agent: Agent, after: int) -> list[tuple[str, int | None]]:
    return [
        (event.type, event.payload["stock"])
        for event in TaskEvent.objects.filter(seq__gt=after, payload__agent_id=agent.pk).order_by(
            "seq"
        )
    ]


class TestRestockedEvent:
    def test_sold_out_low_and_back(self, acme):
        client = acme.client("manager")
        with acme.active():
            category = category_make(name="Hot")
            agent = agent_make(name="Prawns", category=category, price="30.00", threshold=2)
            start = TaskEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        url = f"/api/v1/agents/{agent.pk}/stock-adjustments/"

        def post(body):
            response = client.post(url, {**body, "reason": "count"}, format="json")
            assert response.status_code == 201, response.content

        post({"set_limited": 5})  # above the threshold: nothing to announce
        post({"delta": -3})  # 2: low
        post({"delta": -2})  # 0: sold out
        post({"delta": 1})  # 1: out of sold out, still low: restocked (the board shows "low")
        post({"delta": 1})  # 2: still low, nothing new to say
        post({"delta": 1})  # 3: above the threshold: restocked
        post({"delta": 5})  # 8: was fine already: nothing
        post({"delta": -6})  # 2: low again
        post({"set_unlimited": True})  # not tracked any more: restocked (stock null)
        with acme.active():
            assert _events(agent, start) == [
                ("agent.low_stock", 2),
                ("agent.sold_out", 0),
                ("agent.restocked", 1),
                ("agent.restocked", 3),
                ("agent.low_stock", 2),
                ("agent.restocked", None),
            ]
            restocked = TaskEvent.objects.filter(
                seq__gt=start, type="agent.restocked", payload__agent_id=agent.pk
            ).first()
            assert restocked.category_ids == [category.pk]
            assert restocked.payload["low_stock_threshold"] == 2
            assert restocked.actor["type"] == "user"

    def test_a_cancel_giving_stock_back_restocks(self, acme):
        with acme.active():
            category = category_make(name="Hot")
            agent = agent_make(name="Crab", category=category, price="50.00")
            stock_set_limited(agent=agents_lock([agent.pk])[agent.pk], stock=1)
        response = acme.client("staff").post(
            "/api/v1/tasks/", {"items": [{"agent_id": agent.pk, "quantity": 1}]}, format="json"
        )
        assert response.status_code == 201, response.content
        task_id = response.json()["id"]
        with acme.active():
            start = TaskEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
        response = acme.client("manager").post(
            f"/api/v1/tasks/{task_id}/cancel/", {"reason": "guest left"}, format="json"
        )
        assert response.status_code == 200, response.content
        with acme.active():
            assert _events(agent, start) == [("agent.restocked", 1)]


class TestScreenMode:
    def test_create_patch_and_ticket(self, acme):
        client = acme.client("manager")
        response = client.post("/api/v1/screens/", {"name": "Pass", "mode": "expo"}, format="json")
        assert response.status_code == 201, response.content
        screen = response.json()
        assert screen["mode"] == "expo"
        ticket = Client(HTTP_HOST=acme.host).post(
            "/api/v1/realtime/tickets/", HTTP_AUTHORIZATION=f"Screen {screen['token']}"
        )
        assert ticket.status_code == 201
        assert ticket.json()["principal"]["mode"] == "expo"
        assert ticket.json()["settings"]["recall_minutes"] == acme.organization.recall_minutes
        response = client.patch(f"/api/v1/screens/{screen['id']}/", {"mode": "line"}, format="json")
        assert response.status_code == 200 and response.json()["mode"] == "line"
        response = client.post("/api/v1/screens/", {"name": "X", "mode": "bar"}, format="json")
        assert response.status_code == 400
        assert "mode" in response.json()["error"]["details"]["fields"]
        default = client.post("/api/v1/screens/", {"name": "Line"}, format="json").json()
        assert default["mode"] == "line"

    def test_station_names_in_the_ticket(self, acme):
        with acme.active():
            hot = category_make(name="热菜 Hot")
        client = acme.client("manager")
        screen = client.post(
            "/api/v1/screens/", {"name": "Hot", "station": [hot.pk]}, format="json"
        ).json()
        ticket = Client(HTTP_HOST=acme.host).post(
            "/api/v1/realtime/tickets/", HTTP_AUTHORIZATION=f"Screen {screen['token']}"
        )
        assert ticket.json()["principal"]["station_names"] == {str(hot.pk): "热菜 Hot"}


class TestSocket:
    def test_expo_bump_completes_and_snapshot_has_alerts_and_recent(self, rt_a):
        expo, _ = rt_a.screen(name="Expo")
        with rt_a.context(), transaction.atomic():
            screen_update(screen_id=expo.pk, mode="expo")
            prawns = agent_make(name="Prawns", category=rt_a.hot, price="30.00", threshold=1)
            stock_set_limited(agent=agents_lock([prawns.pk])[prawns.pk], stock=0)
        hot_screen, _ = rt_a.screen(station=[rt_a.hot.pk], name="Hot")
        bar_screen, _ = rt_a.screen(station=[rt_a.bar.pk], name="Bar")
        task = rt_a.task(rt_a.soup, rt_a.beer)

        async def body():
            comm, (hello, snapshot) = await _open(rt_a, screen=expo)
            assert hello["principal"]["mode"] == "expo"
            assert task.pk in [t["id"] for t in snapshot["tasks"]]
            alert = next(a for a in snapshot["stock_alerts"] if a["agent_id"] == prawns.pk)
            assert alert["stock"] == 0 and alert["low_stock_threshold"] == 1
            await comm.send_json_to({"type": "bump", "task_id": task.pk, "ref": "x"})
            messages = await receive_until(comm, lambda m: m.get("type") == "ack")
            assert messages[-1]["task"] == {"id": task.pk, "status": "completed"}
            steps = [m for m in messages if m["type"] == "task.status_changed"]
            while len(steps) < 4:  # published after the commit: may follow the ack
                message = await comm.receive_json_from(timeout=5)
                if message["type"] == "task.status_changed":
                    steps.append(message)
            assert [m["data"]["status"] for m in steps] == [
                "accepted",
                "in_progress",
                "ready",
                "completed",
            ]
            assert {m["actor"]["type"] for m in steps} == {"screen"}
            assert steps[-1]["actor"]["name"] == "Expo"
            await comm.disconnect()

            # A board loaded now gets the completed task for its recall tray, the hot station
            # the prawns alert, the bar station neither alert nor soup-less tasks.
            comm, (_, snapshot) = await _open(rt_a, screen=hot_screen)
            assert task.pk in [t["id"] for t in snapshot["recent"]]
            assert task.pk not in [t["id"] for t in snapshot["tasks"]]
            assert prawns.pk in [a["agent_id"] for a in snapshot["stock_alerts"]]
            # Restocked live: the event reaches the hot station's screen.
            await sync_to_async(_restock)(rt_a, prawns)
            restocked = (await receive_until(comm, lambda m: m["type"] == "agent.restocked"))[-1]
            assert restocked["data"]["agent_id"] == prawns.pk
            assert restocked["data"]["stock"] == 4
            await comm.disconnect()
            comm, (_, snapshot) = await _open(rt_a, screen=bar_screen)
            assert prawns.pk not in [a["agent_id"] for a in snapshot["stock_alerts"]]
            await comm.disconnect()

        run(body)

    def test_line_bump_still_advances_one_step(self, rt_a):
        screen, _ = rt_a.screen(name="Line")
        task = rt_a.task(rt_a.soup)

        async def body():
            comm, _messages = await _open(rt_a, screen=screen)
            await comm.send_json_to({"type": "bump", "task_id": task.pk, "ref": "y"})
            ack = (await receive_until(comm, lambda m: m.get("type") == "ack"))[-1]
            assert ack["task"] == {"id": task.pk, "status": "accepted"}
            await comm.disconnect()

        run(body)


def _restock(live, agent) -> None:
    with live.context(), transaction.atomic():
        stock_adjust(agent=agents_lock([agent.pk])[agent.pk], delta=4)
