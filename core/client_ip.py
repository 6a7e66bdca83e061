"""The client's IP address, for every place that keys on it (throttles, login lockout, audit).

``X-Forwarded-For`` is written by whoever sends the request, so it is believed only when the
peer (``REMOTE_ADDR``) is one of our own proxies (``TRUSTED_PROXIES``: IPs or CIDRs). Each proxy
appends the address it received the request from, so the header is read from the right: the
first address that is not a trusted proxy is the client. Anything a client put further left is
ignored, however it is spelled.

Why not django-ipware: its trusted proxies are string prefixes (no CIDRs) and, left to its
defaults, it picks the left-most public address of the header, which is the one a client
controls. The rule here is a dozen lines on the standard library's ``ipaddress``.
"""

import functools
import ipaddress

from django.conf import settings

from core.local_cache import function_cache_register

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[_Network, ...]:
    # Parsed once per distinct setting (tests override it); a bad entry fails loudly.
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in proxies if entry)


function_cache_register("trusted-proxy-networks", _networks)  # counted in /metrics


def _parse(value: str) -> _Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.9:51234"
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is still that IPv4 client.
    return getattr(address, "ipv4_mapped", None) or address


def _trusted(address: _Address, networks: tuple[_Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip(request) -> str:
    """The address of the client that made ``request`` (``"unknown"`` if there is none)."""
    meta = request.META
    peer = _parse(meta.get("REMOTE_ADDR", ""))
    if peer is None:
        return "unknown"
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _trusted(peer, networks):
        return str(peer)
    client = peer
    for hop in reversed(meta.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = _parse(hop)
        if address is None:
            # Garbage where a proxy should have written an address: stop at the last hop known.
            break
        client = address
        if not _trusted(address, networks):
            break
    return str(client)
