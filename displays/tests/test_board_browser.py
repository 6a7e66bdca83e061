"""The display board in headless Chromium against a live server: token setup, a task created
through the API appears, bump and item taps work, the board survives a server restart (offline
banner, then catch-up with a task created while it was down), and a non-blank screenshot."""

import struct
import time
import zlib
from pathlib import Path

import httpx
import pytest

from accounts.tokens import tokens_for_membership

from .live import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PORT = 8303

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)"
    ),
]


def _png_colours(png: bytes, sample: int = 4000) -> int:
    """How many distinct RGB(A) pixel values a sample of the (decoded) PNG holds."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, width, channels = 8, b"", 0, 4
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        data = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width = struct.unpack(">I", data[:4])[0]
            channels = {2: 3, 6: 4}.get(data[9], 4)
        elif kind == b"IDAT":
            idat += data
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    # Filtered bytes, not pixels: still a fair measure of variety (a blank page has ~1 value).
    rows = [raw[i * stride + 1 : (i + 1) * stride] for i in range(len(raw) // stride)]
    step = max(1, len(rows) // 40)
    values = set()
    for row in rows[::step]:
        for x in range(
            0, len(row) - channels, max(channels, len(row) // 100 // channels * channels)
        ):
            values.add(row[x : x + channels])
    return len(values)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1920,1080",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait(predicate, timeout=20.0, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


def test_board_end_to_end(browser, rt_a, tmp_path):
    from selenium.webdriver.common.by import By

    server = LiveServer(PORT, tmp_path).start()
    try:
        _, token = rt_a.screen(name="Browser")
        staff = rt_a.org.users["staff"]
        jwt = str(
            tokens_for_membership(user=staff, organization=rt_a.org.organization).access_token
        )
        origin = f"http://{rt_a.host}:{PORT}"

        def create_task(quantity: int) -> dict:
            response = httpx.post(
                f"http://127.0.0.1:{PORT}/api/v1/tasks/",
                headers={"Host": rt_a.host, "Authorization": f"Bearer {jwt}"},
                json={
                    "items": [{"agent_id": rt_a.soup.pk, "quantity": quantity}],
                    "workspace": "A01",
                },
                timeout=10,
            )
            assert response.status_code == 201, response.text
            return response.json()

        def card(task_id):
            found = browser.find_elements(By.CSS_SELECTOR, f'.card[data-task-id="{task_id}"]')
            return found[0] if found else None

        def connected():
            return browser.execute_script(
                "return !!(window.ccBoard && ccBoard.socket && ccBoard.socket.readyState === 1)"
            )

        browser.get(f"{origin}/display/")
        token_input = _wait(lambda: browser.find_element(By.ID, "token-input"), message="setup")
        token_input.send_keys(token)
        browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
        _wait(connected, message="websocket open")
        assert not browser.find_element(By.ID, "offline-banner").is_displayed()
        assert browser.find_element(By.ID, "station").text == "All stations"
        assert browser.execute_script("return localStorage.getItem('cc.screenToken')") == token

        # A task created through the API appears in the pending column.
        task = create_task(2)
        pending = _wait(lambda: card(task["id"]), message="task card")
        assert pending.get_attribute("data-status") == "pending"
        assert task["number"] in pending.text and "A01" in pending.text

        # Tap to bump: pending -> accepted.
        pending.find_element(By.CSS_SELECTOR, ".card__head").click()
        _wait(lambda: card(task["id"]).get_attribute("data-status") == "accepted", message="bump")
        # Tap the item: done, and the task (one item) becomes ready.
        card(task["id"]).find_element(By.CSS_SELECTOR, ".item").click()
        _wait(lambda: card(task["id"]).get_attribute("data-status") == "ready", message="item")
        assert "item--done" in card(task["id"]).find_element(
            By.CSS_SELECTOR, ".item"
        ).get_attribute("class")

        # Server restart: the banner shows, a task created meanwhile appears after catch-up.
        server.stop()
        _wait(
            lambda: browser.find_element(By.ID, "offline-banner").is_displayed(), message="banner"
        )
        with rt_a.context():
            from tasks.services import task_create

            missed = task_create(
                user=staff, items=[{"agent_id": rt_a.beer.pk, "quantity": 1, "notes": ""}]
            )
        server.start()
        _wait(lambda: card(missed.pk), timeout=45, message="catch-up after restart")
        _wait(
            lambda: not browser.find_element(By.ID, "offline-banner").is_displayed(),
            message="online",
        )
        assert card(task["id"]) is not None  # the board kept its state

        png = browser.get_screenshot_as_png()
        (tmp_path / "board.png").write_bytes(png)
        assert len(png) > 10_000
        assert _png_colours(png) > 8
    finally:
        server.stop()
