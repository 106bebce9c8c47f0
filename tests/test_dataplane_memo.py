"""The tracer's memos never change an answer.

The tracer remembers what chains that read only the mark and NAT state do (KUBE-MARK-MASQ,
KUBE-POSTROUTING, nftables' masquerading) and, behind guards, what chains do for packets that
miss their few selective matches (nftables' cluster-ips-check, an indexed KUBE-SERVICES). Here
every packet is traced once through a rule set that has seen all the others (memos warm) and
once through a freshly parsed copy (memos cold): the answers, evidence included, must be equal.
The rules hold what makes guards matter: Services without endpoints (reject rules, no-endpoint
map elements), an endpoint inside the service range (cluster-ips-check drops it) and affinity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from svcdoctor.dataplane import iptables, nftables
from svcdoctor.dataplane.interface import Packet, Ruleset, Trace
from svcdoctor.dataplane.trace import trace
from svcdoctor.endpoints import Endpoint, EndpointPort
from svcdoctor.k8s import ObjectRef
from svcdoctor.testing.kubeproxy import ProxyInput, as_iptables_save, as_nft_listing, iptables_rules, nft_rules

NODE_IP = "198.18.0.2"
CLUSTER_CIDR = "198.19.0.0/16"
SERVICE_CIDR = "198.18.128.0/20"
SOURCES = ("203.0.113.77", "198.19.0.5", NODE_IP)


def _inputs() -> list[ProxyInput]:
    inputs = []
    for index in range(24):
        namespace, name = f"team-{index % 3}", f"svc-{index}"
        cluster_ip = f"198.18.128.{index + 1}"
        port: dict[str, object] = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}
        spec: dict[str, object] = {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                                   "ports": [port]}
        if index % 3 == 0:
            spec["type"] = "NodePort"
            port["nodePort"] = 30000 + index
        if index % 6 == 0:
            spec["externalTrafficPolicy"] = "Local"
        if index % 8 == 1:
            spec["sessionAffinity"] = "ClientIP"
        endpoints = []
        replicas = 0 if index % 5 == 4 else 1 + index % 3
        for replica in range(replicas):
            # One Service sends to an address inside the service range: cluster-ips-check's drop.
            address = "198.18.129.7" if index == 7 and replica == 0 else f"198.19.{index}.{replica + 1}"
            # The Local-policy Services have no endpoint on node-0, the traced node: it drops.
            node = "node-1" if index % 6 == 0 else f"node-{replica % 2}"
            endpoints.append(Endpoint(address, True, True, False, ObjectRef("Pod", namespace, f"{name}-{replica}"),
                                      node, "", "", (EndpointPort("http", 8080, "TCP"),),
                                      ObjectRef("EndpointSlice", namespace, name)))
        service = {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": namespace, "name": name},
                   "spec": spec}
        inputs.append(ProxyInput(service, endpoints))
    return inputs


def _packets(inputs: list[ProxyInput]) -> list[Packet]:
    destinations: list[tuple[str, int]] = []
    for item in inputs:
        spec = item.service["spec"]
        destinations.append((spec["clusterIP"], 80))
        destinations.append((spec["clusterIP"], 81))
        if spec.get("ports")[0].get("nodePort"):
            destinations.append((NODE_IP, spec["ports"][0]["nodePort"]))
        destinations.extend((endpoint.address, 8080) for endpoint in item.endpoints)
    destinations += [("198.18.140.1", 80), ("8.8.8.8", 53)]
    return [Packet(address, port, "tcp", source) for address, port in destinations for source in SOURCES]


def _summary(result: Trace) -> Any:
    return (sorted((round(branch.probability, 9), branch.verdict, branch.destination, branch.masquerade,
                    [(rule.text, rule.line) for rule in branch.rules]) for branch in result.branches),
            result.entry, result.affinity_seconds, sorted(result.notes))


def _parsers() -> dict[str, Callable[[], str]]:
    inputs = _inputs()
    return {"iptables": lambda: as_iptables_save(iptables_rules(inputs, node="node-0", cluster_cidr=CLUSTER_CIDR)),
            "nftables": lambda: as_nft_listing(nft_rules(inputs, node="node-0", node_ips=[NODE_IP],
                                                         cluster_cidr=CLUSTER_CIDR, service_cidr=SERVICE_CIDR))}


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_warm_memos_give_the_answers_of_a_fresh_rule_set(mode: str) -> None:
    text = _parsers()[mode]()
    parse: Callable[[str], Ruleset] = iptables.parse if mode == "iptables" else nftables.parse
    packets = _packets(_inputs())
    cold = [_summary(trace(parse(text), packet, [NODE_IP])) for packet in packets]
    warm = parse(text)
    # Three rounds: chains are memoised only once they recur, and guards most packets meet are
    # dropped after a while; every state of the memos is compared with a cold trace.
    for _ in range(3):
        for packet, expected in zip(packets, cold, strict=True):
            assert _summary(trace(warm, packet, [NODE_IP])) == expected, packet
    outcomes = {verdict for packet in packets for verdict in trace(warm, packet, [NODE_IP]).verdicts}
    # The rules exercise what the memos must not hide: rejects, drops and DNATs alike.
    assert {"REJECT", "DROP"} <= outcomes
    assert warm.memo.get("outcomes"), "the memo was never used: the test proves nothing"
