"""MAX_REQUEST_BYTES: a body over the limit is a 413 in the envelope before it is buffered.

Two paths: Django's middleware (WSGI, the test client) and the ASGI wrapper around the
server's HTTP application (a real uvicorn serving ``config.asgi``, both of its HTTP modes),
for a declared length and for a chunked body, on a known and on an unknown host.
"""

import json
import socket
import time

import pytest
from rest_framework.test import APIClient

from displays.tests.live import LiveServer

LIMIT = 1000


class _Unreadable:
    """A wsgi.input that fails the test if anything reads the body."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def _envelope(raw: bytes) -> dict:
    body = json.loads(raw)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


# --- WSGI: the Django middleware ---------------------------------------------------------------


@pytest.mark.parametrize("host", ["acme.localhost", "unknown.localhost", "localhost"])
def test_declared_length_over_the_limit_is_413_without_reading(acme, settings, host):
    settings.MAX_REQUEST_BYTES = LIMIT
    client = APIClient(HTTP_HOST=host)
    response = client.generic(
        "POST",
        "/api/v1/auth/token/",
        b"",
        content_type="application/json",
        CONTENT_LENGTH=str(300 * 1024 * 1024),
        **{"wsgi.input": _Unreadable()},
    )
    assert response.status_code == 413
    error = _envelope(response.content)
    assert error["code"] == "REQUEST_TOO_LARGE"
    assert error["details"] == {"max_bytes": LIMIT}


def test_a_body_at_the_limit_is_read(acme, settings):
    settings.MAX_REQUEST_BYTES = LIMIT
    client = APIClient(HTTP_HOST=acme.host)
    body = json.dumps({"email": "nobody@acme.test", "password": "x" * 10})
    body += " " * (LIMIT - len(body))
    assert len(body) == LIMIT
    response = client.post("/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code == 401  # parsed, then refused as a login
    over = client.post("/api/v1/auth/token/", body + " ", content_type="application/json")
    assert over.status_code == 413


def test_the_default_limit_is_one_mebibyte(acme):
    from django.conf import settings

    assert settings.MAX_REQUEST_BYTES == 1024 * 1024
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.MAX_REQUEST_BYTES


# --- ASGI: a real uvicorn ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module", params=["wsgi", "asgi"])
def server(request, django_db_setup, tmp_path_factory):
    live = LiveServer(
        _free_port(),
        tmp_path_factory.mktemp("body-limit"),
        MAX_REQUEST_BYTES=str(LIMIT),
        ASGI_HTTP=request.param,
    ).start()
    yield live
    live.stop()


def _read_response(sock: socket.socket, timeout: float = 10) -> tuple[int, dict, bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def _request_head(host: str, extra: str) -> bytes:
    return (
        f"POST /api/v1/auth/token/ HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


@pytest.mark.parametrize("host", ["acme.localhost", "unknown.localhost"])
def test_asgi_declared_length_is_refused_before_the_body_is_sent(acme, server, host):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        # 300 MB announced, not one byte of it sent: the answer cannot wait for the body.
        sock.sendall(_request_head(host, f"Content-Length: {300 * 1024 * 1024}\r\n"))
        started = time.monotonic()
        status, headers, body = _read_response(sock)
    assert time.monotonic() - started < 5
    assert status == 413
    assert headers["connection"] == "close"
    assert _envelope(body)["code"] == "REQUEST_TOO_LARGE"


@pytest.mark.parametrize("host", ["acme.localhost", "unknown.localhost"])
def test_asgi_chunked_body_is_cut_off_at_the_limit(acme, server, host):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_request_head(host, "Transfer-Encoding: chunked\r\n"))
        chunk = b"[" * 400
        # Three chunks pass the limit; the rest (never ending) is not waited for.
        for _ in range(3):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, _headers, body = _read_response(sock)
    assert status == 413
    assert _envelope(body)["code"] == "REQUEST_TOO_LARGE"


def test_asgi_chunked_body_within_the_limit_reaches_the_view(acme, server):
    payload = json.dumps({"email": "owner@acme.test", "password": "wrong-password"}).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_request_head(acme.host, "Transfer-Encoding: chunked\r\n"))
        half = len(payload) // 2
        for part in (payload[:half], payload[half:]):
            sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        sock.sendall(b"0\r\n\r\n")
        status, _headers, body = _read_response(sock)
    # The body was parsed (a wrong password), not read as empty (a 400 naming both fields).
    assert status == 401, body
    assert _envelope(body)["code"] != "REQUEST_TOO_LARGE"


def test_asgi_body_under_a_declared_length_is_served(acme, server):
    payload = json.dumps({"email": "owner@acme.test", "password": "wrong-password"}).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_request_head(acme.host, f"Content-Length: {len(payload)}\r\n") + payload)
        status, _headers, _body = _read_response(sock)
    assert status == 401
