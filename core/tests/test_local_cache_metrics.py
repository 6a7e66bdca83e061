"""Per-process caches are bounded and counted, and /metrics exports their counters
(``cc_local_cache_*``; core.local_cache, core.metrics, docs/observability.md)."""

import socket
import time
from datetime import date
from datetime import time as clock
from functools import lru_cache

import httpx
import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from core import local_cache
from core.local_cache import LocalCache, function_cache_register
from organizations.business_day import day_start

PLATFORM = "localhost"
COUNTERS = ("hits", "misses", "evictions")


def _scrape(text: str | None = None) -> dict:
    """{(sample name, cache): value} of every cc_local_cache_* sample of one scrape."""
    if text is None:
        response = APIClient(HTTP_HOST=PLATFORM).get("/metrics")
        assert response.status_code == 200
        text = response.content.decode()
    return {
        (sample.name, sample.labels["cache"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("cc_local_cache_") and not sample.name.endswith("_created")
    }


def _moved(before: dict, after: dict, cache: str) -> dict:
    return {
        name: after.get((f"cc_local_cache_{name}_total", cache), 0)
        - before.get((f"cc_local_cache_{name}_total", cache), 0)
        for name in COUNTERS
    }


def _gauges(scrape: dict, cache: str) -> tuple[float, float]:
    return scrape[("cc_local_cache_entries", cache)], scrape[("cc_local_cache_maxsize", cache)]


@pytest.fixture
def scratch_caches():
    """Caches a test registers for itself, unregistered afterwards."""
    names = []
    yield names
    for name in names:
        local_cache._registry.pop(name, None)


@override_settings(LOCAL_CACHE_SECONDS=60)
def test_requests_move_the_hit_and_miss_counters_exactly(acme, globex):
    before = _scrape()  # its own host lookup ("localhost", a miss) is counted in it
    staff = acme.client("staff")
    for _ in range(3):
        assert staff.get("/api/v1/auth/me/").status_code == 200
    assert globex.client("staff").get("/api/v1/auth/me/").status_code == 200
    after = _scrape()

    # Host lookups: acme (miss, hit, hit), globex (miss), and this scrape's "localhost" (a hit).
    assert _moved(before, after, "tenant-by-host") == {"hits": 3, "misses": 2, "evictions": 0}
    # One token per organization, checked once per request.
    assert _moved(before, after, "verified-access-token") == {
        "hits": 2,
        "misses": 2,
        "evictions": 0,
    }
    assert _moved(before, after, "active-membership") == {"hits": 2, "misses": 2, "evictions": 0}
    assert _gauges(after, "tenant-by-host") == (3, 10_000)  # localhost, acme, globex
    assert _gauges(after, "active-membership") == (2, 10_000)

    # A change clears the entries (signals), never the counters: the next request misses.
    local_cache.local_caches_clear()
    assert staff.get("/api/v1/auth/me/").status_code == 200
    cleared = _scrape()
    assert _moved(after, cleared, "active-membership") == {"hits": 0, "misses": 1, "evictions": 0}
    assert _gauges(cleared, "active-membership") == (1, 10_000)


def test_with_the_caches_off_nothing_is_counted(acme):
    # The test settings run with LOCAL_CACHE_SECONDS=0: every lookup loads, nothing is cached.
    before = _scrape()
    assert acme.client("staff").get("/api/v1/auth/me/").status_code == 200
    after = _scrape()
    for cache in ("tenant-by-host", "verified-access-token", "active-membership"):
        assert _moved(before, after, cache) == {"hits": 0, "misses": 0, "evictions": 0}


@override_settings(LOCAL_CACHE_SECONDS=60)
def test_a_full_cache_evicts_counts_evictions_and_stays_bounded(db, scratch_caches):
    cache = LocalCache("test-bounded", maxsize=3)
    scratch_caches.append(cache.name)
    before = _scrape()
    for key in range(10):
        assert cache.get_or_load(key, lambda key=key: key * 10) == key * 10
        assert cache.stats().entries <= 3
    # The three most recent keys are still there; the seven before them were evicted.
    for key in (7, 8, 9):
        assert cache.get_or_load(key, lambda: pytest.fail("evicted too early")) == key * 10
    assert cache.get_or_load(0, lambda: "reloaded") == "reloaded"
    after = _scrape()
    assert _moved(before, after, "test-bounded") == {"hits": 3, "misses": 11, "evictions": 8}
    assert _gauges(after, "test-bounded") == (3, 3)


@override_settings(LOCAL_CACHE_SECONDS=1)
def test_expired_entries_are_misses_not_evictions(db, scratch_caches):
    cache = LocalCache("test-expiring", maxsize=3)
    scratch_caches.append(cache.name)
    cache.get_or_load("a", lambda: 1)
    time.sleep(1.1)
    assert cache.get_or_load("a", lambda: 2) == 2
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.evictions, stats.entries) == (0, 2, 0, 1)


def test_function_caches_are_bounded_and_counted(db, scratch_caches):
    with pytest.raises(ValueError, match="bounded"):
        function_cache_register("test-unbounded", lru_cache(maxsize=None)(lambda x: x))

    tiny = lru_cache(maxsize=2)(lambda x: x * 2)
    function_cache_register("test-lru", tiny)
    scratch_caches.append("test-lru")
    before = _scrape()
    for x in (1, 2, 3, 3, 4, 5):
        tiny(x)
    middle = _scrape()
    assert _moved(before, middle, "test-lru") == {"hits": 1, "misses": 5, "evictions": 3}
    assert _gauges(middle, "test-lru") == (2, 2)
    tiny.cache_clear()  # resets cache_info(); the exported counters keep going up
    tiny(6)
    after = _scrape()
    assert _moved(middle, after, "test-lru") == {"hits": 0, "misses": 1, "evictions": 0}
    assert _gauges(after, "test-lru") == (1, 2)

    # The business-day memo is registered: new days miss, a day asked again hits.
    days = [date(2091, 1, day) for day in (1, 2, 3)]
    start = clock(5)
    first = _scrape()
    for day in days + days[:1]:
        day_start("Europe/Paris", start, day)
    second = _scrape()
    assert _moved(first, second, "business-day-start") == {"hits": 1, "misses": 3, "evictions": 0}
    assert _gauges(second, "business-day-start")[1] == 4096


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_one_scrape_sums_the_caches_of_every_web_process(db, tmp_path):
    """Two uvicorn processes sharing a multiprocess directory, the caches on: either one's
    scrape counts both processes' lookups (each copies its counters after a request, at most
    once a second, and the one answering a scrape just before it)."""
    from displays.tests.live import LiveServer

    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    servers = [
        LiveServer(
            _free_port(),
            tmp_path,
            PROMETHEUS_MULTIPROC_DIR=str(multiproc),
            TEST_LOCAL_CACHE_SECONDS="60",
        )
        for _ in "ab"
    ]

    def ready(server) -> None:
        response = httpx.get(f"http://127.0.0.1:{server.port}/ready/", headers={"Host": PLATFORM})
        assert response.status_code == 200, response.text

    def scrape(server) -> dict:
        response = httpx.get(f"http://127.0.0.1:{server.port}/metrics", headers={"Host": PLATFORM})
        assert response.status_code == 200, response.text
        return _scrape(response.text)

    try:
        # Each start probes GET /health/ on "localhost" once: a miss in each process, copied at
        # once (a process's first request always copies).
        for server in servers:
            server.start()
        a, b = servers
        before = scrape(a)  # a's scrape: a hit on "localhost"
        for _ in range(3):
            ready(a)  # hits
        ready(b)  # a hit, maybe not copied yet (b copied less than a second ago)
        time.sleep(local_cache.PUBLISH_SECONDS + 0.2)
        ready(b)  # a hit, and b copies its counters after this request
        after = scrape(a)  # a hit
    finally:
        for server in servers:
            server.stop()
    # Both processes' start-up misses are in a's first scrape.
    assert before[("cc_local_cache_misses_total", "tenant-by-host")] == 2
    assert before[("cc_local_cache_hits_total", "tenant-by-host")] == 1
    # a: 3 requests and its second scrape; b: 2 requests.
    assert _moved(before, after, "tenant-by-host") == {"hits": 6, "misses": 0, "evictions": 0}
    assert _gauges(after, "tenant-by-host") == (1, 10_000)  # the fullest process: one host
