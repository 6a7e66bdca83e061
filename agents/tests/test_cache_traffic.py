"""Catalog read-ahead: a cached list page is fetched in the rate limiter's Redis round trip.

``core.throttling`` runs one Lua script per request (``EVALSHA``) that counts the rate limits
and reads the keys the view names (``redis_read_ahead``: the catalog version and the page).
Authentication checks the logout deny-list itself first (one ``EXISTS``: revocation does not
depend on a view's throttles, docs/accounts.md). A hit therefore costs exactly these two Redis
commands, measured here with ``INFO commandstats`` on the test Redis.

Redis unreachable for lists is covered in test_cache.py (reads fall through to PostgreSQL).
"""

import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.http import urlencode
from django_redis import get_redis_connection

from agents.cache import catalog_cache_entry

URL = "/api/v1/agents/"
CATEGORIES = "/api/v1/agent-categories/"


def _command_calls() -> dict[str, int]:
    stats = get_redis_connection("default").info("commandstats")
    return {name.removeprefix("cmdstat_"): row["calls"] for name, row in stats.items()}


# What a client sends when it opens a connection (MONITOR holds one of the pool's, so a request
# may open another): not part of any request's work.
_HANDSHAKE = frozenset({"HELLO", "SELECT", "CLIENT", "AUTH"})


@dataclass
class Traffic:
    sent: list[str] = field(default_factory=list)  # the clients' commands: one per round trip
    scripted: list[str] = field(default_factory=list)  # what the Lua script ran, with its keys
    stats: dict[str, int] = field(default_factory=dict)  # INFO commandstats delta (both kinds)

    def script_reads(self) -> list[str]:
        return [command.split()[1] for command in self.scripted if command.startswith("GET ")]


@contextmanager
def redis_traffic():
    """The cache database's Redis traffic during the block, from MONITOR (which tells a
    client's command from one the script runs) and ``INFO commandstats`` (which counts both)."""
    redis = get_redis_connection("default")
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    traffic = Traffic()
    before = _command_calls()
    with redis.monitor() as monitor:
        yield traffic
        marker = f"end-of-block-{uuid.uuid4().hex}"
        redis.echo(marker)
        while True:
            command = monitor.next_command()
            if marker in command["command"]:
                break
            if command["db"] != db:
                continue
            name = command["command"].split()[0].upper()
            if command["client_type"] == "lua":
                traffic.scripted.append(command["command"])
            elif name not in _HANDSHAKE:
                traffic.sent.append(name)
    after = _command_calls()
    for name, calls in after.items():
        if name not in ("info", "monitor", "echo") and calls != before.get(name, 0):
            traffic.stats[name] = calls - before.get(name, 0)


def assert_one_round_trip(traffic: Traffic, keys: list[str]) -> None:
    """A cache hit: the deny-list check, then the rate limiter's script; the page and version
    were read inside it (the only GETs Redis ran), never by a GET/MGET of the client."""
    assert traffic.sent == ["EXISTS", "EVALSHA"], traffic
    assert traffic.stats.get("evalsha", 0) + traffic.stats.get("eval", 0) == 1, traffic
    assert "mget" not in traffic.stats, traffic
    assert traffic.stats.get("get", 0) == len(keys), traffic
    assert traffic.script_reads() == keys, traffic


def page_keys(org, url: str) -> list[str]:
    """The keys the list view reads ahead for ``url`` on ``org``'s host."""
    org.activate()
    entry = catalog_cache_entry(
        resource=_resource(url), host=org.host, query_string=url.partition("?")[2]
    )
    return list(entry.redis_keys)


def _resource(url: str) -> str:
    return "categories" if url.startswith(CATEGORIES) else "agents"


def _get(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content
    return response


def _touches_agents(ctx: CaptureQueriesContext) -> bool:
    return any('"agents_agent"' in q["sql"] for q in ctx.captured_queries)


@pytest.fixture
def staff(acme):
    return acme.client("staff")


def test_cached_list_is_one_redis_command_and_the_same_bytes(acme, acme_catalog, staff):
    keys = page_keys(acme, URL)
    with redis_traffic() as cold:
        first = _get(staff, URL)
    assert len(first.json()["results"]) == 3
    # The miss: the script said both keys were missing, so no GET/MGET follows it: the
    # version is created (SET NX) and the page stored (SET).
    assert cold.sent == ["EXISTS", "EVALSHA", "SET", "SET"], cold
    assert cold.script_reads() == keys

    with redis_traffic() as hit, CaptureQueriesContext(connection) as queries:
        second = _get(staff, URL)
    assert_one_round_trip(hit, keys)
    assert second.content == first.content
    assert not _touches_agents(queries)  # really served from the cache

    with redis_traffic() as again:
        third = _get(staff, URL)
    assert_one_round_trip(again, keys)
    assert third.content == first.content


def test_categories_list_reads_ahead_too(acme, acme_catalog, staff):
    first = _get(staff, CATEGORIES)
    with redis_traffic() as hit:
        second = _get(staff, CATEGORIES)
    assert_one_round_trip(hit, page_keys(acme, CATEGORIES))
    assert second.content == first.content
    assert [row["name"] for row in second.json()["results"]] == ["Hot dishes", "Bar"]


def test_query_string_has_its_own_page_and_one_round_trip(acme, acme_catalog, staff):
    category = acme_catalog.categories[0]  # Agent 000 and Agent 002
    plain = _get(staff, URL)
    filtered_url = f"{URL}?{urlencode({'category': category.pk, 'ordering': '-name'})}"
    filtered = _get(staff, filtered_url)
    rows = filtered.json()["results"]
    assert [row["name"] for row in rows] == ["Agent 002", "Agent 000"]
    assert {row["category"] for row in rows} == {category.pk}
    assert filtered.content != plain.content
    keys = page_keys(acme, filtered_url)
    assert keys[1] != page_keys(acme, URL)[1]  # its own page, the same version

    with redis_traffic() as hit:
        again = _get(staff, filtered_url)
    assert_one_round_trip(hit, keys)
    assert again.content == filtered.content

    # The same parameters in another order are the same page.
    reordered = f"{URL}?{urlencode({'ordering': '-name', 'category': category.pk})}"
    with redis_traffic() as hit:
        assert _get(staff, reordered).content == filtered.content
    assert_one_round_trip(hit, keys)

    # The unfiltered page is still its own entry.
    with redis_traffic() as hit:
        assert _get(staff, URL).content == plain.content
    assert_one_round_trip(hit, page_keys(acme, URL))


def test_after_a_write_the_read_ahead_version_is_the_new_one(
    acme, acme_catalog, staff, django_capture_on_commit_callbacks
):
    agent = acme_catalog.agents[0]
    keys = page_keys(acme, URL)
    before = _get(staff, URL)
    assert _get(staff, URL).content == before.content  # cached
    acme.activate()
    old_version = cache.get("catalog:version")
    assert old_version is not None

    with django_capture_on_commit_callbacks(execute=True):
        response = acme.client("manager").patch(
            f"{URL}{agent.pk}/", {"unit_price": "99.90"}, format="json"
        )
    assert response.status_code == 200, response.content
    acme.activate()
    new_version = cache.get("catalog:version")
    assert new_version not in (None, old_version)

    # The old page is still in Redis, under the old version: the page is rebuilt from
    # PostgreSQL with the version the script read (no GET/MGET of its own) and stored.
    with redis_traffic() as miss, CaptureQueriesContext(connection) as queries:
        after = _get(staff, URL)
    assert miss.sent == ["EXISTS", "EVALSHA", "SET"], miss
    assert miss.script_reads() == keys
    assert _touches_agents(queries)
    prices = {row["id"]: row["unit_price"] for row in after.json()["results"]}
    assert prices[agent.pk] == "99.90"
    assert after.content != before.content

    with redis_traffic() as hit:
        again = _get(staff, URL)
    assert_one_round_trip(hit, keys)
    assert again.content == after.content
    acme.activate()
    assert cache.get("catalog:version") == new_version


def test_one_organization_never_gets_the_other_ones_page(
    acme, globex, acme_catalog, globex_catalog, staff
):
    url = f"{URL}?{urlencode({'ordering': 'name', 'page_size': 10})}"
    acme_page = _get(staff, url)
    assert _get(staff, url).content == acme_page.content  # cached for acme
    acme_ids = {row["id"] for row in acme_page.json()["results"]}
    assert acme_ids == {a.pk for a in acme_catalog.agents}
    acme_keys, globex_keys = page_keys(acme, url), page_keys(globex, url)
    # The keys carry the schema: the two organizations' keys never coincide.
    assert all(key.startswith(f"{acme.schema}:") for key in acme_keys)
    assert all(key.startswith(f"{globex.schema}:") for key in globex_keys)
    assert not set(acme_keys) & set(globex_keys)

    # Same path and query string on globex's host: globex's own keys, a miss, its own rows.
    globex_client = globex.client("staff")
    with redis_traffic() as cold, CaptureQueriesContext(connection) as queries:
        globex_page = _get(globex_client, url)
    assert cold.script_reads() == globex_keys
    assert cold.sent == ["EXISTS", "EVALSHA", "SET", "SET"], cold  # globex's first version
    assert _touches_agents(queries)
    rows = globex_page.json()["results"]
    assert {row["id"] for row in rows} == {a.pk for a in globex_catalog.agents}
    assert not acme_ids & {row["id"] for row in rows}

    with redis_traffic() as hit:
        assert _get(globex_client, url).content == globex_page.content
    assert_one_round_trip(hit, globex_keys)
    # And acme's entry is still acme's.
    with redis_traffic() as hit:
        assert _get(staff, url).content == acme_page.content
    assert_one_round_trip(hit, acme_keys)


def test_the_per_process_entry_memo_keeps_organizations_apart(acme, globex):
    """Entries are memoized per process: the same host and query string computed under two
    schemas (never seen in practice: hosts differ) still give each schema its own keys."""
    entries = {}
    for org in (acme, globex, acme):
        org.activate()
        entries.setdefault(org.schema, []).append(
            catalog_cache_entry(resource="agents", host="same.example", query_string="page=2")
        )
    first_acme, second_acme = entries[acme.schema]
    (globex_entry,) = entries[globex.schema]
    assert second_acme is first_acme  # memoized
    assert globex_entry.key == first_acme.key  # the page's own key: host and parameters
    assert all(key.startswith(f"{acme.schema}:") for key in first_acme.redis_keys)
    assert all(key.startswith(f"{globex.schema}:") for key in globex_entry.redis_keys)
