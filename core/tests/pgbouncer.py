"""What the PgBouncer test modules share: the binary, when they can run, a free port."""

import os
import shutil
import socket

import pytest
from django.conf import settings

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None
)
ON_A_SOCKET = not settings.DATABASES["default"].get("HOST")
NEEDS_PGBOUNCER = [
    pytest.mark.skipif(
        PGBOUNCER is None,
        reason="Debian's pgbouncer is not installed (apt-get install -y pgbouncer; .ci/run does)",
    ),
    pytest.mark.skipif(
        ON_A_SOCKET,
        reason="the test database is reached through a unix socket (make test's embedded "
        "PostgreSQL), which the pgbouncer (running as nobody) cannot use: the run against a "
        "TCP PostgreSQL (.ci/run's first pass) proves pooling",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
