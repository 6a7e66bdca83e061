"""Sentry: with a DSN, the client starts with the Django, Celery and Redis integrations, the
release of the build and the configured environment (a fresh interpreter per case)."""

import json
import subprocess
import sys

from django.conf import settings

_PROBE = """
import json, django, sentry_sdk
django.setup()
client = sentry_sdk.get_client()
print(json.dumps({
    "active": client.is_active(),
    "integrations": sorted(client.integrations),
    "explicit": sorted(i.identifier for i in client.options["integrations"]),
    "release": client.options["release"],
    "environment": client.options["environment"],
    "send_default_pii": client.options["send_default_pii"],
}))
"""


def _probe(**env) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=settings.BASE_DIR,
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "PATH": "/usr/bin:/bin",
            "SENTRY_DSN": "http://public@127.0.0.1:9/1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_release_and_environment_come_from_the_environment_with_explicit_integrations():
    options = _probe(SENTRY_RELEASE="cc@1.4.2", SENTRY_ENVIRONMENT="staging", GIT_SHA="abc123")
    assert options["active"] is True
    # Configured explicitly (not left to auto-enabling), and running.
    assert options["explicit"] == ["celery", "django", "redis"]
    assert {"django", "celery", "redis"} <= set(options["integrations"])
    assert options["release"] == "cc@1.4.2"
    assert options["environment"] == "staging"
    assert options["send_default_pii"] is False


def test_release_is_the_build_commit_without_sentry_release():
    options = _probe(GIT_SHA="0123456789abcdef0123456789abcdef01234567")
    assert options["release"] == "0123456789abcdef0123456789abcdef01234567"
    assert options["environment"] == "production"
