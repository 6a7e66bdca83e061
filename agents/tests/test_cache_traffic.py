"""Catalog cache traffic: what a cached list page costs in Redis, seen with MONITOR on the test
Redis database (which tells a client's command from one a script runs; ``INFO commandstats``
is server-wide, so other databases' clients would count there).

Authentication checks the logout deny-list (one ``EXISTS``: revocation does not depend on a
view's throttles, docs/accounts.md); the rate limiter counts in one Lua script (``EVALSHA``)
that only counts (INCR/EXPIRE, never a read for a view); the view then reads the catalog version
and its page in one ``MGET``. A hit is exactly these three commands.

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

from agents.cache import catalog_cache_key

URL = "/api/v1/agents/"
CATEGORIES = "/api/v1/agent-categories/"


# What a client sends when it opens a connection (MONITOR holds one of the pool's, so a request
# may open another): not part of any request's work.
_HANDSHAKE = frozenset({"HELLO", "SELECT", "CLIENT", "AUTH"})


@dataclass
class Traffic:
    sent: list[str] = field(default_factory=list)  # the clients' commands: one per round trip
    sent_full: list[str] = field(default_factory=list)  # the same, with their arguments
    scripted: list[str] = field(default_factory=list)  # what the Lua script ran, with its keys

    def mget_keys(self) -> list[str]:
        (mget,) = [command for command in self.sent_full if command.upper().startswith("MGET ")]
        return mget.split()[1:]

    def script_commands(self) -> set[str]:
        return {command.split()[0].strip('"').upper() for command in self.scripted}


@contextmanager
def redis_traffic():
    """The cache database's Redis traffic during the block, from MONITOR (which tells a
    client's command from one the script runs)."""
    redis = get_redis_connection("default")
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    traffic = Traffic()
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
                traffic.sent_full.append(command["command"])


def assert_hit(traffic: Traffic) -> None:
    """A cache hit: the deny-list check, the rate limiter's script (counting only), the view's
    one read of the version and the page."""
    assert traffic.sent == ["EXISTS", "EVALSHA", "MGET"], traffic
    assert traffic.scripted, traffic  # the script ran (its counters), in this database
    assert traffic.script_commands() <= {"INCR", "EXPIRE"}, traffic


def page_keys(org, url: str) -> list[str]:
    """The Redis keys (schema-prefixed) of the catalog version and of the page of ``url`` on
    ``org``'s host."""
    with org.active():
        key = catalog_cache_key(
            resource=_resource(url), host=org.host, query_string=url.partition("?")[2]
        )
        return [cache.make_key("catalog:version"), cache.make_key(key)]


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


def test_cached_list_is_one_read_and_the_same_bytes(acme, acme_catalog, staff):
    keys = page_keys(acme, URL)
    with redis_traffic() as cold:
        first = _get(staff, URL)
    assert len(first.json()["results"]) == 3
    # The miss: the MGET found neither key, so the version is created (SET NX) and the page
    # stored (SET).
    assert cold.sent == ["EXISTS", "EVALSHA", "MGET", "SET", "SET"], cold
    assert cold.mget_keys() == keys
    assert cold.script_commands() <= {"INCR", "EXPIRE"}, cold

    with redis_traffic() as hit, CaptureQueriesContext(connection) as queries:
        second = _get(staff, URL)
    assert_hit(hit)
    assert hit.mget_keys() == keys
    assert second.content == first.content
    assert not _touches_agents(queries)  # really served from the cache

    with redis_traffic() as again:
        third = _get(staff, URL)
    assert_hit(again)
    assert third.content == first.content


def test_categories_list_is_cached_too(acme, acme_catalog, staff):
    first = _get(staff, CATEGORIES)
    with redis_traffic() as hit:
        second = _get(staff, CATEGORIES)
    assert_hit(hit)
    assert hit.mget_keys() == page_keys(acme, CATEGORIES)
    assert second.content == first.content
    assert [row["name"] for row in second.json()["results"]] == ["Hot dishes", "Bar"]


def test_query_string_has_its_own_page(acme, acme_catalog, staff):
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
    assert_hit(hit)
    assert hit.mget_keys() == keys
    assert again.content == filtered.content

    # The same parameters in another order are the same page.
    reordered = f"{URL}?{urlencode({'ordering': '-name', 'category': category.pk})}"
    with redis_traffic() as hit:
        assert _get(staff, reordered).content == filtered.content
    assert hit.mget_keys() == keys

    # The unfiltered page is still its own entry.
    with redis_traffic() as hit:
        assert _get(staff, URL).content == plain.content
    assert hit.mget_keys() == page_keys(acme, URL)


def test_after_a_write_the_version_is_the_new_one(
    acme, acme_catalog, staff, django_capture_on_commit_callbacks
):
    agent = acme_catalog.agents[0]
    keys = page_keys(acme, URL)
    before = _get(staff, URL)
    assert _get(staff, URL).content == before.content  # cached
    old_version = cache.get("catalog:version")
    assert old_version is not None

    with django_capture_on_commit_callbacks(execute=True):
        response = acme.client("manager").patch(
            f"{URL}{agent.pk}/", {"unit_price": "99.90"}, format="json"
        )
    assert response.status_code == 200, response.content
    new_version = cache.get("catalog:version")
    assert new_version not in (None, old_version)

    # The old page is still in Redis, under the old version: the page is rebuilt from
    # PostgreSQL with the version the MGET read and stored.
    with redis_traffic() as miss, CaptureQueriesContext(connection) as queries:
        after = _get(staff, URL)
    assert miss.sent == ["EXISTS", "EVALSHA", "MGET", "SET"], miss
    assert miss.mget_keys() == keys
    assert _touches_agents(queries)
    prices = {row["id"]: row["unit_price"] for row in after.json()["results"]}
    assert prices[agent.pk] == "99.90"
    assert after.content != before.content

    with redis_traffic() as hit:
        again = _get(staff, URL)
    assert_hit(hit)
    assert again.content == after.content
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
    assert cold.mget_keys() == globex_keys
    assert cold.sent == ["EXISTS", "EVALSHA", "MGET", "SET", "SET"], cold  # its first version
    assert _touches_agents(queries)
    rows = globex_page.json()["results"]
    assert {row["id"] for row in rows} == {a.pk for a in globex_catalog.agents}
    assert not acme_ids & {row["id"] for row in rows}

    with redis_traffic() as hit:
        assert _get(globex_client, url).content == globex_page.content
    assert_hit(hit)
    assert hit.mget_keys() == globex_keys
    # And acme's entry is still acme's.
    with redis_traffic() as hit:
        assert _get(staff, url).content == acme_page.content
    assert hit.mget_keys() == acme_keys


def test_the_per_process_key_memo_is_the_page_key_only(acme, globex):
    """Page keys are memoized per process without the schema: the cache adds each schema's
    prefix when it reads, so the same host and query string under two schemas never share an
    entry in Redis."""
    keys = {}
    for org in (acme, globex):
        with org.active():
            key = catalog_cache_key(resource="agents", host="same.example", query_string="page=2")
            keys[org.schema] = cache.make_key(key)
    assert keys[acme.schema].startswith(f"{acme.schema}:")
    assert keys[globex.schema].startswith(f"{globex.schema}:")
    assert keys[acme.schema] != keys[globex.schema]
