"""One node's data plane, parsed once from its :class:`~svcdoctor.snapshot.NodeDump`."""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache

from svcdoctor.dataplane import iptables, ipvs, nftables
from svcdoctor.dataplane import trace as tracer
from svcdoctor.dataplane.interface import Packet, Ruleset, Trace
from svcdoctor.snapshot import NodeDump


@dataclass(frozen=True, eq=False)
class NodeDataplane:
    """The parsed rules of one node and the mode kube-proxy runs in there."""

    node: str
    #: ``iptables`` | ``nftables`` | ``ipvs``, as recorded or detected; "" when no kube-proxy rules exist.
    mode: str
    rulesets: tuple[Ruleset, ...]
    ipvs: ipvs.IPVSTable | None
    #: Whether any kube-proxy rules exist at all (KUBE-* chains, a kube-proxy nft table, IPVS services).
    has_kube_proxy_rules: bool
    problems: tuple[str, ...] = ()

    def trace(self, packet: Packet, local_addresses: Iterable[str] = ()) -> Trace:
        """Where the node sends ``packet``: IPVS first in IPVS mode, else the netfilter rules."""
        if self.mode == "ipvs" and self.ipvs is not None:
            return ipvs.trace(self.ipvs, packet)
        return tracer.trace(self.rulesets, packet, local_addresses)

    @cached_property
    def families(self) -> frozenset[int]:
        """The IP families (4, 6) the node has rules for: paths of other families are not traced."""
        found: set[int] = set()
        for ruleset in self.rulesets:
            if ruleset.source == "iptables":
                if any(chain.rules for chain in ruleset.chains.values()):
                    found.add(ruleset.family)
            else:
                for kind in {table.split(" ", 1)[0] for table, _ in ruleset.chains}:
                    found.update({"ip": {4}, "ip6": {6}, "inet": {4, 6}}.get(kind, set()))
        if self.ipvs is not None:
            for server in self.ipvs.services.values():
                found.add(6 if ":" in server.ip else 4)
        return frozenset(found)

    @property
    def rule_count(self) -> int:
        count = sum(ruleset.rule_count for ruleset in self.rulesets)
        if self.ipvs is not None:
            count += sum(1 + len(server.real_servers) for server in self.ipvs.services.values())
        return count


_IPTABLES_KUBE_CHAINS = ("KUBE-SERVICES", "KUBE-NODEPORTS")


def _iptables_kube_rules(ruleset: Ruleset) -> bool:
    """Whether kube-proxy's iptables-mode dispatch chains hold rules (``iptables-save``, or an
    iptables-nft node printed by ``nft list ruleset``, where they sit in tables ``ip nat`` …)."""
    return any(chain.rules for (_, name), chain in ruleset.chains.items() if name in _IPTABLES_KUBE_CHAINS)


def _nft_kube_rules(ruleset: Ruleset) -> bool:
    """Whether kube-proxy's nftables-mode table holds rules."""
    return ruleset.source == "nftables" and any(
        chain.rules for (table, _), chain in ruleset.chains.items() if table.endswith(" kube-proxy"))


def _kube_chains(ruleset: Ruleset) -> bool:
    return _iptables_kube_rules(ruleset) or _nft_kube_rules(ruleset)


@lru_cache(maxsize=64)
def load(dump: NodeDump) -> NodeDataplane:
    """Parse every text of a NodeDump (cached: several checks ask for the same node)."""
    # A dump becomes hundreds of thousands of small objects that hold no reference cycles and
    # live as long as the run. Left on, the cyclic collector would run hundreds of times while
    # they are made, each full pass over a growing heap (growth turned superlinear). Paused
    # here (and restored), it meets them once, afterwards.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(dump)
    finally:
        if enabled:
            gc.enable()


def _load(dump: NodeDump) -> NodeDataplane:
    rulesets: list[Ruleset] = []
    problems: list[str] = []
    if dump.iptables_save.strip():
        rulesets.append(iptables.parse(dump.iptables_save))
    if dump.ip6tables_save.strip():
        rulesets.append(iptables.parse(dump.ip6tables_save, family=6))
    if dump.nft_ruleset.strip():
        rulesets.append(nftables.parse(dump.nft_ruleset))
    table = ipvs.parse(dump.ipvsadm) if dump.ipvsadm.strip() else None
    rulesets = _without_iptables_copies(rulesets)
    for ruleset in rulesets:
        problems.extend(f"{ruleset.source}: {problem}" for problem in ruleset.problems)
    if table is not None:
        problems.extend(f"ipvsadm: {problem}" for problem in table.problems)
    has_rules = any(_kube_chains(ruleset) for ruleset in rulesets) or bool(table and table.services)
    mode = dump.proxy_mode or detect_mode(rulesets, table)
    return NodeDataplane(dump.node, mode, tuple(rulesets), table, has_rules, tuple(problems))


def _without_iptables_copies(rulesets: list[Ruleset]) -> list[Ruleset]:
    """The rule sets, each rule traced once. On an iptables-nft node, ``nft list ruleset`` prints
    the tables iptables-save prints (``ip nat``, ``ip filter`` …, same chains): when both were
    recorded, such a table is read from iptables-save, whose every option is readable (nft
    prints some only as ``xt match NAME``), and left out of the nft rule set."""
    if not any(ruleset.source == "nftables" for ruleset in rulesets):
        return rulesets
    saved: dict[tuple[int, str], set[str]] = {}
    for ruleset in rulesets:
        if ruleset.source == "iptables":
            for table, name in ruleset.chains:
                saved.setdefault((ruleset.family, table), set()).add(name)
    if not saved:
        return rulesets
    result = []
    for ruleset in rulesets:
        if ruleset.source != "nftables":
            result.append(ruleset)
            continue
        listed: dict[str, set[str]] = {}
        for table, chain in ruleset.chains:
            listed.setdefault(table, set()).add(chain)
        copies = set()
        for table, names in listed.items():
            kind, _, name = table.partition(" ")
            family = {"ip": 4, "ip6": 6}.get(kind)
            if family is not None and saved.get((family, name)) == names:
                copies.add(table)
        if not copies:
            result.append(ruleset)
            continue
        chains = {key: chain for key, chain in ruleset.chains.items() if key[0] not in copies}
        if chains:
            sets = {key: named for key, named in ruleset.sets.items() if key[0] not in copies}
            result.append(Ruleset(ruleset.source, chains, sets, ruleset.family, ruleset.problems, ruleset.unplaced))
    return result


def detect_mode(rulesets: Iterable[Ruleset], table: ipvs.IPVSTable | None) -> str:
    """kube-proxy's mode from what its rules look like."""
    rulesets = list(rulesets)
    if table is not None and table.services:
        return "ipvs"
    if any(_nft_kube_rules(ruleset) for ruleset in rulesets):
        return "nftables"
    if any(_iptables_kube_rules(ruleset) for ruleset in rulesets):
        return "iptables"
    return ""
