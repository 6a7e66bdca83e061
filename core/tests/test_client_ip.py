"""core.client_ip: X-Forwarded-For is believed only from TRUSTED_PROXIES, read from the right;
the throttles and the login lockout key on it."""

import pytest
from django.conf import settings
from django.test import RequestFactory, override_settings
from rest_framework.test import APIClient

from core.client_ip import client_ip

TOKEN_URL = "/api/v1/auth/token/"


def ip_of(remote_addr: str, forwarded: str | None = None) -> str:
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


@override_settings(TRUSTED_PROXIES=[])
def test_without_trusted_proxies_the_header_is_ignored():
    assert ip_of("198.51.100.7", "1.2.3.4") == "198.51.100.7"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8", "2001:db8::1"])
@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        # An untrusted peer: its header is whatever it wants it to be.
        ("198.51.100.7", "1.2.3.4", "198.51.100.7"),
        # Our proxy: the right-most address it appended is the client.
        ("10.1.2.3", "203.0.113.9", "203.0.113.9"),
        # A client that sends its own header: only the address our proxy appended counts.
        ("10.1.2.3", "1.1.1.1, 6.6.6.6, 203.0.113.9", "203.0.113.9"),
        # Two of our proxies in a row: skipped from the right.
        ("10.1.2.3", "203.0.113.9, 10.9.9.9", "203.0.113.9"),
        ("2001:db8::1", "203.0.113.10", "203.0.113.10"),
        # Ports and brackets are not part of the address.
        ("10.1.2.3", "[2001:db8::42]:443", "2001:db8::42"),
        ("10.1.2.3", "203.0.113.9:5123", "203.0.113.9"),
        # Garbage where an address should be: the last hop we know.
        ("10.1.2.3", "not-an-ip", "10.1.2.3"),
        ("10.1.2.3", "", "10.1.2.3"),
        # Only proxies: the furthest one.
        ("10.1.2.3", "10.4.4.4", "10.4.4.4"),
        # IPv4 seen through an IPv6 socket.
        ("::ffff:198.51.100.7", None, "198.51.100.7"),
    ],
)
def test_trusted_proxies(remote, forwarded, expected):
    assert ip_of(remote, forwarded) == expected


def test_no_peer_is_unknown():
    assert ip_of("") == "unknown"


def _anon_rate(rate: str) -> dict:
    return {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "anon": rate,
        },
    }


def test_rotating_x_forwarded_for_does_not_lift_the_anonymous_limit(acme):
    client = APIClient(HTTP_HOST=acme.host, REMOTE_ADDR="198.51.100.7")
    with override_settings(REST_FRAMEWORK=_anon_rate("3/min"), TRUSTED_PROXIES=[]):
        codes = [
            client.post(TOKEN_URL, {}, format="json", HTTP_X_FORWARDED_FOR=f"7.7.7.{i}").status_code
            for i in range(5)
        ]
    assert codes == [400, 400, 400, 429, 429]


def test_x_forwarded_for_from_a_trusted_proxy_is_honoured(acme):
    proxy = APIClient(HTTP_HOST=acme.host, REMOTE_ADDR="10.0.0.5")
    with override_settings(REST_FRAMEWORK=_anon_rate("2/min"), TRUSTED_PROXIES=["10.0.0.0/24"]):
        first = [
            proxy.post(TOKEN_URL, {}, format="json", HTTP_X_FORWARDED_FOR="203.0.113.1")
            for _ in range(3)
        ]
        # Another client behind the same proxy has a limit of its own.
        other = proxy.post(TOKEN_URL, {}, format="json", HTTP_X_FORWARDED_FOR="203.0.113.2")
    assert [r.status_code for r in first] == [400, 400, 429]
    assert other.status_code == 400


def test_login_lockout_counts_the_client_behind_the_proxy(acme):
    def attempt(forwarded: str, password="bad"):
        return APIClient(HTTP_HOST=acme.host, REMOTE_ADDR="10.0.0.5").post(
            TOKEN_URL,
            {"email": "owner@acme.test", "password": password},
            format="json",
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    with override_settings(TRUSTED_PROXIES=["10.0.0.0/24"], LOGIN_LOCKOUT_PER_EMAIL=1000):
        for i in range(20):
            assert attempt("203.0.113.50", password=f"bad-{i}").status_code == 401
        # That client is locked out by IP; another one behind the same load balancer is not.
        assert attempt("203.0.113.50", password="correct-horse-battery").status_code == 429
        assert attempt("203.0.113.51", password="correct-horse-battery").status_code == 200
