"""kube-proxy's own part in hairpin: whether a Pod's connection to its Service, sent back to itself, is
masqueraded on its node.

A connection from a Pod to its Service's ClusterIP that kube-proxy translates to that same Pod
arrives with the Pod's own address as source and destination; the Pod would answer itself
directly, bypassing the translation, and the connection never completes. kube-proxy therefore
marks such packets for masquerade (``pkg/proxy/*/proxier.go``, "Handle traffic that loops back
to the originator with SNAT"):

- iptables mode: each ``KUBE-SEP-*`` chain starts with ``-s <endpoint IP>/32 -j KUBE-MARK-MASQ``
  before its DNAT; ``KUBE-POSTROUTING`` masquerades the marked packets;
- nftables mode: each ``endpoint-*`` chain starts with ``ip saddr <endpoint IP> jump
  mark-for-masquerade``; the ``masquerading`` chain masquerades the mark;
- IPVS mode: the node's local endpoints are members of the ``KUBE-LOOP-BACK`` ipset (``IP,proto:port,IP``),
  and ``KUBE-POSTROUTING`` holds ``-m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE``.
  The set's members are not in ``iptables-save`` (``ipset list KUBE-LOOP-BACK`` prints them).

For iptables and nftables the packet is traced (:mod:`.trace`) from the Pod's address to each
ClusterIP:port; a branch that lands on the Pod itself must end masqueraded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from svcdoctor import k8s
from svcdoctor.dataplane import addresses
from svcdoctor.dataplane.interface import Packet, Rule
from svcdoctor.dataplane.node import NodeDataplane
from svcdoctor.k8s import Obj

LOOP_BACK_SET = "KUBE-LOOP-BACK"


@dataclass(frozen=True)
class Hairpin:
    """One Service port's connection from the Pod to its ClusterIP that lands on the Pod itself."""

    cluster_ip: str
    port: int
    protocol: str
    #: The Pod address and port the node translates it to.
    destination: tuple[str, int]
    #: Its share of the connections (kube-proxy's random split over the endpoints).
    share: float
    #: True: masqueraded; False: not; None: the dump cannot tell (undecided lines, IPVS's ipset members).
    masqueraded: bool | None
    #: The rules the packet met (evidence).
    rules: tuple[Rule, ...] = ()
    #: The rule that marks the Pod's own traffic for masquerade, when the packet met one.
    marking: Rule | None = None
    #: Why it cannot tell, when ``masqueraded`` is None.
    undecided: str = ""


def _marks_the_pod(rule: Rule, ips: Sequence[str]) -> bool:
    """Whether ``rule`` is kube-proxy's marking rule for the Pod: source exactly its address, then a jump
    (to the marking chain) or a mark."""
    if rule.action[0] not in ("jump", "goto", "mark"):
        return False
    for match in rule.matches:
        if match[0] == "saddr" and not match[2]:
            for ip in ips:
                version, value = addresses.address(ip)
                if any(addresses.is_host(network) and addresses.contains(network, version, value)
                       for network in match[1]):
                    return True
    return False


def _loop_back_rule(dataplane: NodeDataplane) -> Rule | None:
    """IPVS mode's ``-m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE`` rule, if the dump has it."""
    for ruleset in dataplane.rulesets:
        for (table, _name), chain in ruleset.chains.items():
            if table != "nat":
                continue
            for rule in chain.rules:
                if rule.action[0] == "masquerade" and any(
                        match[0] in ("saddr_set", "daddr_set") and match[1] == LOOP_BACK_SET and not match[2]
                        for match in rule.matches):
                    return rule
    return None


def hairpins(dataplane: NodeDataplane, service: Obj, pod_ips: Sequence[str],
             local_addresses: Iterable[str] = ()) -> list[Hairpin]:
    """Every connection from the Pod (``pod_ips``) to ``service``'s ClusterIPs that the node sends back to it."""
    spec = k8s.spec(service)
    cluster_ips = [str(ip) for ip in k8s.as_list(spec.get("clusterIPs")) if ip and ip != "None"]
    if not cluster_ips and spec.get("clusterIP") not in (None, "", "None"):
        cluster_ips = [str(spec.get("clusterIP"))]
    own = set(pod_ips)
    local = list(local_addresses)
    loop_back = _loop_back_rule(dataplane) if dataplane.mode == "ipvs" else None
    # IPVS mode keeps its masquerade rules in iptables: without iptables-save nothing can be said.
    nat_read = any(table == "nat" for ruleset in dataplane.rulesets for table, _ in ruleset.chains)
    found: list[Hairpin] = []
    for port in k8s.service_ports(service):
        number = port.get("port")
        if not isinstance(number, int):
            continue
        protocol = k8s.port_protocol(port).lower()
        for cluster_ip in cluster_ips:
            sources = [ip for ip in pod_ips if (":" in ip) == (":" in cluster_ip)]
            if not sources:
                continue
            trace = dataplane.trace(Packet(cluster_ip, number, protocol, sources[0]), local)
            for branch in trace.branches:
                if branch.destination is None or branch.destination[0] not in own:
                    continue
                if dataplane.mode == "ipvs":
                    masqueraded: bool | None = None if loop_back is not None or not nat_read else False
                    undecided = (f"the {LOOP_BACK_SET} ipset's members are not in the dump" if loop_back is not None
                                 else "" if nat_read else
                                 "the dump has no iptables-save, where IPVS mode's masquerade rules are")
                    rules = (*branch.rules, *((loop_back,) if loop_back is not None else ()))
                    marking = loop_back
                else:
                    masqueraded = None if trace.undecided else branch.masquerade
                    undecided = "; ".join(trace.undecided[:2])
                    rules = branch.rules
                    marking = next((rule for rule in branch.rules if _marks_the_pod(rule, sources)), None)
                found.append(Hairpin(cluster_ip, number, protocol, branch.destination, branch.probability,
                                     masqueraded, rules, marking, undecided))
    return found
