"""Addresses as integers: fast prefix matching for the tracer (parsing is cached)."""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache

#: ``(version, network, mask)`` with network and mask as integers.
Network = tuple[int, int, int]


def _ipv4(text: str) -> int | None:
    """A dotted quad as an integer, or None when ``text`` is not a plain one (then ipaddress decides)."""
    # inet_pton is strict (four decimal parts, no leading zeros) and far quicker than splitting.
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, UnicodeError, ValueError):
        return None


@lru_cache(maxsize=200_000)
def network(text: str) -> Network:
    """``10.0.0.0/8`` / ``172.30.0.41`` / ``2001:db8::/32`` → (version, network, mask)."""
    host, _, length = text.strip().partition("/")
    value = _ipv4(host)
    if value is not None and (not length or (length.isdigit() and int(length) <= 32)):
        bits = int(length) if length else 32
        mask = ((1 << bits) - 1) << (32 - bits)
        return 4, value & mask, mask
    parsed = ipaddress.ip_network(text.strip(), strict=False)
    bits = 32 if parsed.version == 4 else 128
    mask = ((1 << parsed.prefixlen) - 1) << (bits - parsed.prefixlen)
    return parsed.version, int(parsed.network_address), mask


@lru_cache(maxsize=200_000)
def address(text: str) -> tuple[int, int]:
    """``172.30.0.41`` → (version, integer)."""
    value = _ipv4(text.strip())
    if value is not None:
        return 4, value
    parsed = ipaddress.ip_address(text.strip())
    return parsed.version, int(parsed)


def is_host(net: Network) -> bool:
    version, _, mask = net
    return mask == (0xFFFFFFFF if version == 4 else (1 << 128) - 1)


def contains(net: Network, version: int, value: int) -> bool:
    return net[0] == version and (value & net[2]) == net[1]
