"""Production settings fail closed, pass `check --deploy`, keep the demo seeder out, and serve
static files through whitenoise (hashed names, compressed, cached for a year).

Each test runs real processes with ``config.settings.production``: the settings module is read
once per process, so it cannot be swapped inside the test process.
"""

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = "config.settings.production"
# Nothing listens there: a command that reached the database would fail differently.
NO_DATABASE = "postgres://postgres@127.0.0.1:9/no_such_database"

pytestmark = pytest.mark.skipif(
    (ROOT / ".env").exists(),
    reason="a local .env would supply the variables these tests leave unset",
)


def _env(**values: str | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "JWT_", "METRICS_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": PRODUCTION,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "example.com",
            "DATABASE_URL": NO_DATABASE,
        }
    )
    for key, value in values.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"])
def test_production_settings_refuse_to_start_without_secret_or_hosts(missing):
    for value in (None, "", "  "):
        result = _run(["manage.py", "check"], _env(**{missing: value}))
        assert result.returncode != 0
        assert f"{missing} is not set" in result.stderr, result.stderr[-2000:]
        assert "refuse to start" in result.stderr


def test_production_settings_refuse_the_development_secret_key():
    from config.settings.base import DEV_SECRET_KEY

    result = _run(["manage.py", "check"], _env(DJANGO_SECRET_KEY=DEV_SECRET_KEY))
    assert result.returncode != 0
    assert "development key" in result.stderr


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi", "config.celery"])
def test_server_entry_points_default_to_production_settings(module):
    """Started with no DJANGO_SETTINGS_MODULE, a server, worker or beat process loads the
    production settings, so a forgotten secret stops it instead of signing with a known key."""
    code = f"import {module}; from django.conf import settings; settings.SECRET_KEY"
    refused = _run(["-c", code], _env(DJANGO_SETTINGS_MODULE=None, DJANGO_SECRET_KEY=None))
    assert refused.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in refused.stderr, refused.stderr[-2000:]

    code += "; print(settings.SETTINGS_MODULE, settings.DEBUG)"
    started = _run(["-c", code], _env(DJANGO_SETTINGS_MODULE=None))
    assert started.returncode == 0, started.stderr[-2000:]
    assert started.stdout.split() == [PRODUCTION, "False"]


def test_check_deploy_is_clean():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _env())
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "System check identified no issues" in result.stdout


def test_https_settings_come_from_the_environment():
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "s.SECURE_HSTS_PRELOAD)"
    )
    defaults = _run(["-c", "import django; django.setup(); " + code], _env())
    assert defaults.stdout.split() == ["True", "31536000", "True", "True"], defaults.stderr
    relaxed = _run(
        ["-c", "import django; django.setup(); " + code],
        _env(
            DJANGO_SECURE_SSL_REDIRECT="false",
            DJANGO_SECURE_HSTS_SECONDS="0",
            DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
            DJANGO_SECURE_HSTS_PRELOAD="false",
        ),
    )
    assert relaxed.stdout.split() == ["False", "0", "False", "False"], relaxed.stderr


def test_seed_demo_refuses_production_settings():
    result = _run(["manage.py", "seed_demo", "--no-history"], _env())
    assert result.returncode != 0
    assert "seed_demo refuses to run" in result.stderr, result.stderr[-2000:]
    assert "published passwords" in result.stderr
    # It stopped before touching the database (which does not exist).
    assert "OperationalError" not in result.stderr


@pytest.mark.slow
def test_whitenoise_serves_hashed_compressed_static_files_with_long_cache(db, tmp_path):
    # `db`, not `live_db`: it writes nothing, and `db` makes pytest-django create the test
    # database when this test runs alone (the server reads what platform_setup committed).
    from displays.tests.live import LiveServer, database_env

    static_root = tmp_path / "static"
    env = _env(DJANGO_STATIC_ROOT=str(static_root), DJANGO_ALLOWED_HOSTS="localhost")
    collected = _run(["manage.py", "collectstatic", "--noinput", "-v", "0"], env)
    assert collected.returncode == 0, collected.stderr[-2000:]
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["display/board.js"]
    assert hashed != "display/board.js" and hashed.startswith("display/board.")
    assert (static_root / f"{hashed}.gz").exists()
    source = (ROOT / "static" / "display" / "board.js").read_bytes()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    production = {key: value for key, value in env.items() if key.startswith("DJANGO_")}
    server = LiveServer(port, tmp_path, **production, **database_env()).start()
    base = f"http://127.0.0.1:{port}"
    https = {"Host": "localhost", "X-Forwarded-Proto": "https"}
    try:
        response = httpx.get(
            f"{base}/static/{hashed}", headers={**https, "Accept-Encoding": "gzip"}
        )
        plain_name = httpx.get(f"{base}/static/display/board.js", headers=https)
        redirected = httpx.get(f"{base}/admin/login/", headers={"Host": "localhost"})
        probe = httpx.get(f"{base}/health/", headers={"Host": "localhost"})
    finally:
        server.stop()

    assert response.status_code == 200
    cache_control = response.headers["Cache-Control"]
    assert "max-age=315360000" in cache_control and "immutable" in cache_control
    assert response.headers["Content-Encoding"] == "gzip"  # httpx decodes it for .content
    assert response.content == source
    assert "max-age=315360000" not in plain_name.headers["Cache-Control"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    # Plain HTTP is redirected to HTTPS, except the probes a load balancer sends in the clear.
    assert redirected.status_code == 301
    assert redirected.headers["Location"].startswith("https://localhost/")
    assert probe.status_code == 200
