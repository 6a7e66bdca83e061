"""Structured logs and Sentry wiring."""

import json
import logging
import subprocess
import sys

from core.logging import build_logging


def test_json_logs_carry_request_id_organization_user_and_latency(acme, capsys):
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(build_logging(fmt="json", level="INFO"))
    try:
        acme.client("staff").get("/api/v1/auth/me/", HTTP_X_REQUEST_ID="req-42")
        lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
        records = [json.loads(line) for line in lines]
        access = [r for r in records if r.get("event") == "request"][-1]
        assert access["request_id"] == "req-42"
        assert access["organization"] == "acme"
        assert access["user"] == acme.users["staff"].pk
        assert access["status"] == 200
        assert access["latency_ms"] >= 0
        assert access["path"] == "/api/v1/auth/me/"
    finally:
        logging.config.dictConfig(settings.LOGGING)


def test_sentry_is_initialised_only_when_a_dsn_is_set():
    code = "import django, sentry_sdk; django.setup(); print(sentry_sdk.get_client().is_active())"
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.test", "PATH": "/usr/bin:/bin"}
    off = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    on = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "SENTRY_DSN": "https://public@127.0.0.1:9/1"},
        capture_output=True,
        text=True,
    )
    assert off.stdout.strip() == "False", off.stderr
    assert on.stdout.strip() == "True", on.stderr


def test_console_format_in_development_is_readable():
    config = build_logging(fmt="console", level="INFO")
    assert config["formatters"]["structlog"]["processors"][-1].__class__.__name__ == (
        "ConsoleRenderer"
    )
    assert logging.getLevelName(config["root"]["level"]) == 20
