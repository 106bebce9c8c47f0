"""Cilium's service map as ``cilium-dbg service list`` (older: ``cilium service list``) prints it.

With Cilium's kube-proxy replacement there are no kube-proxy rules: the agent keeps each Service
frontend (address:port, and since 1.17 the protocol) and its backends in eBPF maps, and the
``service list`` command prints them as a table written by Go's ``tabwriter``::

    ID   Frontend            Service Type   Backend
    4    10.96.95.246:80     ClusterIP      1 => 10.244.0.58:80 (active)
                                            2 => 10.244.1.59:80 (quarantined)
    2    10.96.0.10:53/UDP   ClusterIP      1 => 10.244.1.69:53/UDP (active)

The shapes read here: the 2017 table without a type column (``ID Frontend Backend``), the
table with ``Service Type`` and plain backends (until 1.13), backends with their state in
parentheses (1.14–1.16: ``active``, ``terminating``, ``quarantined``, ``maintenance``), and
frontends and backends with ``/PROTOCOL`` (1.17, 1.18; a trailing ``/i`` marks the internal
scope of a Local traffic policy). IPv6 addresses are bracketed. A frontend with no backend is
listed without one. A line the parser cannot read (the agent's own ``error parsing frontend``
complaint, a truncated paste) is kept as a problem with its line number, never dropped silently;
``[...]`` is the mark people put where they cut rows out, so the list is known to be partial.

Pure and free of I/O: :func:`parse` turns the text into a :class:`ServiceList`.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

#: Backend states Cilium prints; a backend printed without one is ``active`` (before 1.14).
BACKEND_STATES = ("active", "terminating", "terminating-not-serving", "quarantined", "maintenance")

_ENTRY = re.compile(r"^\s*(\d+)\s+(\S+)(.*)$")
_BACKEND = re.compile(r"(\d+)\s+=>\s+(\S+)((?:\s+\([^)]*\))*)")
_PARENTHESIS = re.compile(r"\(([^)]*)\)")
#: A continuation line holding one backend and nothing else (nearly every line of a long list).
_ONE_BACKEND = re.compile(r"\s+(\d+)\s+=>\s+(\S+)(?:\s+\(([a-z-]+)\))?")
_CUT = ("[...]", "...", "[…]", "…")


@dataclass(frozen=True)
class Address:
    """``ip:port`` with the protocol (``""`` when the format does not print it)."""

    ip: str
    port: int
    protocol: str = ""
    #: ``i`` (internal) or ``""``: the scope Cilium prints after the protocol.
    scope: str = ""

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}" + (f"/{self.protocol}" if self.protocol else "")


@dataclass(frozen=True)
class Backend:
    """One backend of a frontend, its number in the list and its state."""

    index: int
    address: Address
    #: One of :data:`BACKEND_STATES` (``active`` when not printed).
    state: str
    #: Other words in parentheses (``preferred``, a zone).
    notes: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Frontend:
    """One row of the table: a Service frontend and its backends."""

    id: int
    address: Address
    #: ``ClusterIP``, ``NodePort``, ``LoadBalancer``, ``ExternalIPs``, ``HostPort``, ``LocalRedirect`` …
    #: (``""`` in the 2017 format, which has no such column).
    type: str
    backends: tuple[Backend, ...]
    line: int
    #: The lines of the row as printed (evidence).
    text: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class ServiceList:
    """Everything read from one node's service list."""

    frontends: tuple[Frontend, ...]
    #: Lines that could not be read, each ``line N: text``.
    problems: tuple[str, ...] = ()
    #: The paste says rows were cut out (``[...]``): a missing frontend may be one of them.
    partial: bool = False
    by_port: Mapping[int, tuple[Frontend, ...]] = field(default_factory=dict, repr=False, compare=False)
    by_address: Mapping[tuple[str, int], tuple[Frontend, ...]] = field(default_factory=dict, repr=False,
                                                                       compare=False)

    @cached_property
    def families(self) -> frozenset[int]:
        """The IP families (4, 6) the map has frontends of: Services of other families are not traced."""
        return frozenset(6 if ":" in frontend.address.ip else 4 for frontend in self.frontends)

    def at(self, ip: str, port: int, protocol: str) -> list[Frontend]:
        """The frontends for ``ip:port`` and ``protocol`` (a frontend printed without a protocol
        matches any); ``ip`` ``0.0.0.0`` or ``::`` frontends (every node address) match any IP."""
        protocol = protocol.upper()
        candidates = list(self.by_address.get((ip, port), ()))
        for wildcard in ("0.0.0.0", "::"):
            candidates += [frontend for frontend in self.by_address.get((wildcard, port), ())
                           if frontend.type in ("NodePort", "HostPort")]
        return [frontend for frontend in candidates
                if not frontend.address.protocol or frontend.address.protocol == protocol]


@lru_cache(maxsize=65536)
def parse_address(text: str) -> Address | None:
    """``10.0.0.1:80``, ``10.0.0.1:80/TCP``, ``[fd00::1]:80/UDP/i`` → Address (None when not one)."""
    head, _, rest = text.partition("/")
    if head.startswith("["):
        ip, separator, port = head[1:].partition("]:")
    else:
        ip, separator, port = head.rpartition(":")
    if not separator or not port.isdigit() or not ip or ("." not in ip and ":" not in ip):
        return None
    protocol, _, scope = rest.partition("/")
    return Address(ip, int(port), protocol.upper(), scope)


def _backends(text: str, number: int) -> tuple[list[Backend], str]:
    """The backends on one line and what is left of it once they are taken out."""
    found = []
    for match in _BACKEND.finditer(text):
        address = parse_address(match.group(2))
        if address is None:
            continue
        words = [item.strip() for item in _PARENTHESIS.findall(match.group(3))]
        state = next((word for word in words if word in BACKEND_STATES), "active")
        notes = tuple(word for word in words if word != state or word not in BACKEND_STATES)
        found.append(Backend(int(match.group(1)), address, state, notes, number))
    return found, _BACKEND.sub("", text).strip()


@dataclass
class _Row:
    id: int
    address: Address
    type: str
    line: int
    backends: list[Backend]
    text: list[str]

    def frontend(self) -> Frontend:
        return Frontend(self.id, self.address, self.type, tuple(self.backends), self.line, tuple(self.text))


def parse(text: str) -> ServiceList:
    """Read a service list (any of the formats above); never raises on odd lines."""
    # Tens of thousands of small acyclic objects: the cyclic collector, left on, would walk the
    # growing heap again and again while they are made (growth turns superlinear).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse(text)
    finally:
        if enabled:
            gc.enable()


def _parse(text: str) -> ServiceList:
    problems: list[str] = []
    partial = False
    current: _Row | None = None
    rows: list[_Row] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped:
            continue
        if stripped in _CUT:
            partial = True
            continue
        words = stripped.split()
        if words[0] == "ID" and "Frontend" in words:
            continue
        indented = line[:1].isspace()
        entry = None if indented else _ENTRY.match(line)
        address = parse_address(entry.group(2)) if entry is not None else None
        if entry is not None and address is not None:
            backends, rest = _backends(entry.group(3), number)
            current = _Row(int(entry.group(1)), address, rest, number, backends, [line])
            rows.append(current)
            continue
        if indented and current is not None:
            single = _ONE_BACKEND.fullmatch(line)
            if single is not None and (single.group(3) or "active") in BACKEND_STATES:
                address = parse_address(single.group(2))
                if address is not None:
                    current.backends.append(Backend(int(single.group(1)), address, single.group(3) or "active",
                                                    (), number))
                    current.text.append(line)
                    continue
            backends, rest = _backends(line, number)
            if backends and not rest:
                current.backends.extend(backends)
                current.text.append(line)
                continue
        problems.append(f"line {number}: {stripped[:200]}")
    frontends = tuple(row.frontend() for row in rows)
    by_port: dict[int, list[Frontend]] = {}
    by_address: dict[tuple[str, int], list[Frontend]] = {}
    for frontend in frontends:
        by_port.setdefault(frontend.address.port, []).append(frontend)
        by_address.setdefault((frontend.address.ip, frontend.address.port), []).append(frontend)
    return ServiceList(frontends, tuple(problems), partial, {port: tuple(items) for port, items in by_port.items()},
                       {key: tuple(items) for key, items in by_address.items()})
