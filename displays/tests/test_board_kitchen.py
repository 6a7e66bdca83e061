"""The board's kitchen features in headless Chromium against a live server (one browser
session, a fresh organization in New York time): a rush card jumps the queue, the sold-out /
low-stock strip follows API stock changes, the all-day panel follows tasks arriving, being
marked and bumped, keyboard bumps and navigation, the recall tray (tap and key) brings a card
back to its column, an edited task shows its added and removed items until acknowledged, the
clock runs in the organization's timezone with a CJK font stack, and an expo screen sees whole
tasks and completes them."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from accounts.tokens import tokens_for_membership
from displays.services import screen_create
from organizations.models import Organization
from testing.factories import agent_make, category_make

from .live import LiveServer
from .test_board_browser import CHROMIUM, browser  # noqa: F401 (the fixture)

PORT = 8313
ZONE = "America/New_York"
WAIT = 20

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)"
    ),
]


@pytest.fixture
def kitchen(committed_org):
    """The organization in New York time, a hot station (stocked dumplings, soup, rice) and a
    bar, a line screen for the hot station and an expo screen."""
    organization = committed_org.organization
    Organization.objects.filter(pk=organization.pk).update(timezone=ZONE, recall_minutes=10)
    with tenant_context(organization):
        hot = category_make(name="Hot", sort_order=1)
        bar = category_make(name="Bar", sort_order=2)
        agents = {
            "dumplings": agent_make(
                name="饺子 Dumplings", category=hot, price="18.00", threshold=1
            ),
            "soup": agent_make(name="Soup", category=hot, price="12.00"),
            "rice": agent_make(name="Rice", category=hot, price="3.00"),
            "beer": agent_make(name="Beer", category=bar, price="8.00"),
        }
        _, line_token = screen_create(name="Hot line", station=[hot.pk])
        _, expo_token = screen_create(name="Pass", mode="expo")
    connection.set_schema_to_public()
    manager = committed_org.users["manager"]
    jwt = str(tokens_for_membership(user=manager, organization=organization).access_token)
    return committed_org, agents, line_token, expo_token, jwt


def test_kitchen_board(browser, kitchen, tmp_path):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    org, agents, line_token, expo_token, jwt = kitchen
    base = f"http://127.0.0.1:{PORT}"
    headers = {"Host": org.host, "Authorization": f"Bearer {jwt}"}
    wait = WebDriverWait(browser, WAIT, poll_frequency=0.1)

    def api(method: str, path: str, body: dict | None = None, expect: int = 200) -> dict:
        response = httpx.request(
            method, f"{base}/api/v1{path}", headers=headers, json=body, timeout=10
        )
        assert response.status_code == expect, response.text
        return response.json()

    def create(*lines, priority="normal", workspace="A01") -> dict:
        items = [{"agent_id": agents[name].pk, "quantity": quantity} for name, quantity in lines]
        body = {"items": items, "workspace": workspace, "priority": priority}
        return api("POST", "/tasks/", body, expect=201)

    def adjust(name: str, delta: int) -> None:
        api(
            "POST",
            f"/agents/{agents[name].pk}/stock-adjustments/",
            {"delta": delta, "reason": "count"},
            expect=201,
        )

    def js(script: str, *args):
        return browser.execute_script(script, *args)

    def column_ids(status: str) -> list[int]:
        return js(
            "return Array.from(document.querySelectorAll("
            "'.column[data-status=\"' + arguments[0] + '\"] .card'))"
            ".map(function (c) { return Number(c.dataset.taskId); });",
            status,
        )

    def status_of(task_id: int) -> str | None:
        return js(
            "var c = document.querySelector('.card[data-task-id=\"' + arguments[0] + '\"]');"
            "return c ? c.dataset.status : null;",
            task_id,
        )

    def all_day() -> dict[str, int]:
        return js(
            "var out = {}; document.querySelectorAll('#all-day-list .all-day__row')"
            ".forEach(function (r) { out[r.querySelector('.all-day__name').textContent] ="
            " Number(r.dataset.count); }); return out;"
        )

    def strip() -> dict[str, str]:
        return js(
            "if (document.getElementById('stock-strip').hidden) return {};"
            "var out = {}; document.querySelectorAll('#stock-items .strip__item')"
            ".forEach(function (c) { out[c.querySelector('strong').textContent] ="
            " c.dataset.state + ' ' + c.textContent; }); return out;"
        )

    def active() -> int | None:
        return js("return ccBoard.cursor;")

    def press(*keys) -> None:
        ActionChains(browser).send_keys(*keys).perform()

    def until(predicate, message: str):
        return wait.until(lambda _driver: predicate(), message=message)

    def connected() -> bool:
        return js("return !!(window.ccBoard && ccBoard.socket && ccBoard.socket.readyState === 1)")

    def open_board(token: str) -> None:
        js("localStorage.setItem('cc.screenToken', arguments[0]);", token)
        browser.get(f"http://{org.host}:{PORT}/display/?lang=en")
        until(connected, "websocket open")
        until(lambda: js("return ccBoard.lastSeq !== null;"), "snapshot")

    server = LiveServer(PORT, tmp_path).start()
    try:
        browser.get(f"http://{org.host}:{PORT}/display/?lang=en")
        open_board(line_token)

        # Clock in the organization's timezone (the machine's is not New York), CJK fonts.
        now = datetime.now(ZoneInfo(ZONE))
        expected = {(now + timedelta(minutes=m)).strftime("%H:%M") for m in (-1, 0, 1)}
        assert browser.find_element(By.ID, "clock").text in expected
        font = js("return getComputedStyle(document.body).fontFamily;")
        assert '"PingFang SC"' in font and '"Noto Sans CJK SC"' in font
        assert browser.find_element(By.ID, "station").text == "Hot"
        assert all_day() == {}

        # Tasks arrive: the all-day panel counts this station's open items (no beer).
        task_a = create(("soup", 2), ("beer", 1))
        task_b = create(("dumplings", 1), ("soup", 1))
        until(lambda: column_ids("pending") == [task_a["id"], task_b["id"]], "two cards")
        until(lambda: all_day() == {"Soup": 3, "饺子 Dumplings": 1}, "all day after two tasks")
        placed = browser.find_element(By.CSS_SELECTOR, f'.card[data-task-id="{task_a["id"]}"]')
        created = datetime.fromisoformat(task_a["created_at"]).astimezone(ZoneInfo(ZONE))
        assert f"Placed {created:%H:%M}" in placed.text

        # A rush task jumps the queue, marked.
        rush = create(("soup", 1), priority="rush", workspace="R9")
        until(lambda: column_ids("pending")[:1] == [rush["id"]], "rush first")
        assert column_ids("pending") == [rush["id"], task_a["id"], task_b["id"]]
        rush_card = browser.find_element(By.CSS_SELECTOR, f'.card[data-task-id="{rush["id"]}"]')
        assert "card--rush" in rush_card.get_attribute("class")
        assert rush_card.find_element(By.CSS_SELECTOR, ".badge--rush").text.lower() == "rush"
        until(lambda: all_day().get("Soup") == 4, "all day after the rush task")

        # Stock through the API: limited to 2, sold out, then low (1), then back (6).
        api(
            "POST",
            f"/agents/{agents['dumplings'].pk}/stock-adjustments/",
            {"set_limited": 2, "reason": "count"},
            expect=201,
        )
        adjust("dumplings", -2)
        until(lambda: strip().get("饺子 Dumplings", "").startswith("sold_out"), "sold out strip")
        assert "Sold out" in strip()["饺子 Dumplings"]
        adjust("dumplings", 1)
        until(lambda: strip().get("饺子 Dumplings", "").startswith("low_stock"), "low strip")
        assert "1 left" in strip()["饺子 Dumplings"]
        adjust("dumplings", 5)
        until(lambda: strip() == {}, "strip cleared once restocked")

        # Keyboard: the cursor follows the top of the queue (the rush) until a key moves it;
        # Enter bumps it and the cursor stays in place (the next card); j/k move, f bumps the
        # first card.
        assert active() == rush["id"]
        press(Keys.ENTER)
        until(lambda: status_of(rush["id"]) == "accepted", "Enter bumps the active card")
        assert active() == task_a["id"]
        press("j")
        until(lambda: active() == task_b["id"], "j: next card")
        press("k")
        until(lambda: active() == task_a["id"], "k: previous card")
        press("f")
        until(lambda: status_of(task_a["id"]) == "accepted", "f bumps the first card")
        press(Keys.END)
        until(lambda: active() == task_a["id"], "End: last card (accepted after the rush)")
        press(Keys.HOME)
        until(lambda: active() == task_b["id"], "Home: first card")
        press(Keys.PAGE_DOWN)
        until(lambda: active() != task_b["id"], "PageDown: a page further")
        press(Keys.PAGE_UP)
        until(lambda: active() == task_b["id"], "PageUp: back")

        # Item 1 of task A (its soup; the beer is the bar's) done from the keyboard.
        while active() != task_a["id"]:
            press("j")
        press("1")
        until(lambda: all_day().get("Soup") == 2, "all day after an item is done")

        # Bumped out of the board (the rush, to completed): all day drops, the tray offers it.
        rush_id = rush["id"]
        for expected_status in ("in_progress", "ready"):
            js("ccBoard.activeId = arguments[0];", rush_id)
            press("b")
            until(lambda s=expected_status: status_of(rush_id) == s, expected_status)
        until(lambda: all_day().get("Soup") == 2, "the ready rush still counts (not done)")
        js("ccBoard.activeId = arguments[0];", rush_id)
        press(" ")
        until(lambda: status_of(rush_id) is None, "completed: off the board")
        until(lambda: all_day().get("Soup") == 1, "all day after the bump")
        tray = f'#recall-list .recall__item[data-task-id="{rush_id}"]'
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, tray), message="in the tray")
        assert "Completed" in browser.find_element(By.CSS_SELECTOR, tray).text

        # A tap on the tray recalls it: back to its column.
        browser.find_element(By.CSS_SELECTOR, tray).click()
        until(lambda: status_of(rush_id) == "ready", "recalled by a tap")
        assert rush_id in column_ids("ready")
        until(lambda: not browser.find_elements(By.CSS_SELECTOR, tray), "out of the tray")
        assert api("GET", f"/tasks/{rush_id}/")["status"] == "ready"
        # ... and R recalls the last bumped card (completed again, then recalled by key).
        js("ccBoard.activeId = arguments[0];", rush_id)
        press("b")
        until(lambda: status_of(rush_id) is None, "completed again")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, tray), message="tray again")
        press("r")
        until(lambda: status_of(rush_id) == "ready", "recalled by R")

        # An edit (manager): dumplings 1 -> 2, the soup removed, rice added.
        lines = {item["agent_id"]: item for item in task_b["items"]}
        api(
            "PATCH",
            f"/tasks/{task_b['id']}/",
            {
                "items": [
                    {"id": lines[agents["dumplings"].pk]["id"], "quantity": 2},
                    {"agent_id": agents["rice"].pk, "quantity": 1},
                ]
            },
        )
        card_b = f'.card[data-task-id="{task_b["id"]}"]'
        wait.until(
            lambda d: d.find_elements(By.CSS_SELECTOR, f"{card_b} .item--removed"),
            message="removed line struck through",
        )
        card = browser.find_element(By.CSS_SELECTOR, card_b)
        removed = card.find_element(By.CSS_SELECTOR, ".item--removed")
        assert "Soup" in removed.text
        assert "line-through" in removed.value_of_css_property("text-decoration")
        separator = card.find_element(By.CSS_SELECTOR, ".items__separator--added")
        assert separator.text.lower() == "added"
        added = card.find_elements(By.CSS_SELECTOR, ".item--added")
        assert [row.find_element(By.CSS_SELECTOR, ".item__name").text for row in added] == ["Rice"]
        # The added line comes after the separator, the original one before it.
        order = js(
            "return Array.from(document.querySelectorAll(arguments[0] + ' .items:not("
            ".items--removed) > li')).map(function (li) { return li.className; });",
            card_b,
        )
        assert order.index(next(c for c in order if "separator" in c)) == 1
        changed = card.find_element(By.CSS_SELECTOR, ".item--changed")
        assert "was 1" in changed.text
        until(
            lambda: all_day() == {"Soup": 1, "饺子 Dumplings": 2, "Rice": 1},
            "all day after the edit",
        )
        # Acknowledged from the keyboard (A on the card): the removed lines go.
        js("ccBoard.activeId = arguments[0];", task_b["id"])
        press("a")
        wait.until(
            lambda d: not d.find_elements(By.CSS_SELECTOR, f"{card_b} .item--removed"),
            message="acknowledged",
        )
        assert browser.find_elements(By.CSS_SELECTOR, f"{card_b} .item--added")

        # The help overlay documents the keys.
        press("?")
        help_box = wait.until(lambda d: d.find_element(By.ID, "help"), message="help")
        until(lambda: help_box.is_displayed(), "help shown")
        assert "Bump the selected card" in help_box.text and "Recall" in help_box.text
        press(Keys.ESCAPE)
        until(lambda: not help_box.is_displayed(), "help closed")

        # The expo: whole tasks (the bar's beer too) with each line's done marks; a bump of a
        # task not ready asks for a second one, then completes it.
        open_board(expo_token)
        until(lambda: not browser.find_element(By.ID, "mode").get_attribute("hidden"), "expo")
        card_a = f'.card[data-task-id="{task_a["id"]}"]'
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, card_a), message="task A on expo")
        rows = browser.find_elements(By.CSS_SELECTOR, f"{card_a} .item")
        marks = {
            row.find_element(By.CSS_SELECTOR, ".item__name").text: (
                row.find_element(By.CSS_SELECTOR, ".item__check").text,
                "item--other" in row.get_attribute("class"),
            )
            for row in rows
        }
        assert marks == {"Soup": ("✓", False), "Beer": ("•", False)}
        assert all_day() == {"Soup": 1, "Beer": 1, "饺子 Dumplings": 2, "Rice": 1}
        # (Marking its soup done started it: in progress.)
        before = api("GET", f"/tasks/{task_a['id']}/")["status"]
        assert before == "in_progress"
        head = f"{card_a} .card__head"
        browser.find_element(By.CSS_SELECTOR, head).click()
        wait.until(
            lambda d: (
                "card--confirm" in d.find_element(By.CSS_SELECTOR, card_a).get_attribute("class")
            ),
            message="expo asks for a second bump",
        )
        assert api("GET", f"/tasks/{task_a['id']}/")["status"] == before
        browser.find_element(By.CSS_SELECTOR, head).click()
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, card_a), message="expo completes")
        assert api("GET", f"/tasks/{task_a['id']}/")["status"] == "completed"
        tray_a = f'#recall-list .recall__item[data-task-id="{task_a["id"]}"]'
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, tray_a), message="expo tray")
    finally:
        server.stop()
