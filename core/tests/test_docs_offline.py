"""Swagger UI and Redoc load only this project's own files (drf-spectacular-sidecar), no CDN."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

_URL_ATTRIBUTES = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""")


def _page_urls(html: str) -> list[str]:
    return _URL_ATTRIBUTES.findall(html)


def _body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.mark.parametrize(
    ("path", "bundle"),
    [
        ("/api/docs/", "swagger-ui-bundle.js"),
        ("/api/redoc/", "redoc.standalone.js"),
    ],
)
def test_docs_page_references_only_same_origin_static_files_that_are_served(acme, path, bundle):
    client = Client(HTTP_HOST=acme.host)
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    # No absolute or protocol-relative URL anywhere: scripts, styles, fonts, favicon.
    assert "http://" not in html
    assert "https://" not in html
    assert not re.search(r"""["']//""", html)
    urls = _page_urls(html)
    assert any(url.endswith(bundle) for url in urls), urls
    for url in urls:
        assert url.startswith("/static/drf_spectacular_sidecar/"), url
        served = client.get(url)
        assert served.status_code == 200, url
        # The very file the staticfiles finders know (collectstatic ships it in the image).
        source = finders.find(url.removeprefix("/static/"))
        assert source, url
        with open(source, "rb") as fh:
            assert _body(served) == fh.read(), url
    # The schema the page loads is this host's, by a relative path.
    assert "/api/schema/" in html


def test_schema_the_docs_load_is_served_to_anonymous_readers(acme):
    response = Client(HTTP_HOST=acme.host).get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi:" in response.content
