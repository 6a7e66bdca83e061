"""Catalog fixtures: a small catalog built through the services (testing.factories)."""

import pytest

from testing.factories import NumberedCatalog, catalog_via_services


@pytest.fixture
def acme_catalog(acme) -> NumberedCatalog:
    return catalog_via_services()


@pytest.fixture
def globex_catalog(globex) -> NumberedCatalog:
    with globex.active():
        return catalog_via_services(agents=1)


def error_fields(response) -> set[str]:
    body = response.json()
    assert set(body) == {"error"}, body
    return set(body["error"]["details"].get("fields", {}))
