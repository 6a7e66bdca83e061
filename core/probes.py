"""Waiting for a server we started (benchmarks, live-server tests). No Django imports: the
benchmark drivers use it from processes that never load Django."""

import socket
import time

_HEALTH = b"GET /health/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def wait_http(port: int, timeout: float = 30.0) -> None:
    """Return once ``GET /health/`` on 127.0.0.1:``port`` answers 200; raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(_HEALTH)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not become healthy")
