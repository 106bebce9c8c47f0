"""Real kernel, real packets: the tracer's predictions against where connections really land.

A lab node gets kube-proxy-shaped rules (iptables-restore, or nft -f) for a few Services whose
endpoints are real TCP listeners in pod namespaces, each answering with its own name. A client
namespace connects to the ClusterIPs, NodePorts and external IPs; every answer must be one the
tracer predicted from the rules as ``iptables-save`` / ``nft list ruleset`` print them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from svcdoctor.dataplane import analysis
from svcdoctor.dataplane.interface import Packet
from svcdoctor.dataplane.node import load
from svcdoctor.endpoints import Endpoint, EndpointPort, service_endpoints
from svcdoctor.k8s import ObjectRef
from svcdoctor.snapshot import NodeDump, build_snapshot
from svcdoctor.testing.kubeproxy import ProxyInput, iptables_rules, nft_rules
from svcdoctor.testing.netns import NODE_IP, POD_CIDR, POD_GATEWAY, Lab, netns_usable
from tests.conftest import require

pytestmark = pytest.mark.netns

NODE = "lab-node"
CLIENT_IP = "198.18.0.2"
LOCAL = [NODE_IP, POD_GATEWAY]
PODS = {"web-0": "198.19.0.10", "web-1": "198.19.0.11", "web-2": "198.19.0.12", "api-0": "198.19.0.20"}
NAME_BY_IP = {ip: name for name, ip in PODS.items()}


def _service(name: str, cluster_ip: str, target_port: int, **spec: Any) -> dict[str, Any]:
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": target_port}]
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        ports[0]["nodePort"] = spec.pop("nodePort")
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "lab", "name": name},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "ports": ports, **spec}}


def _slice(service: str, port: int, pods: list[tuple[str, str]]) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"namespace": "lab", "name": f"{service}-x1",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [PODS[pod]], "conditions": {"ready": True}, "nodeName": node,
                           "targetRef": {"kind": "Pod", "namespace": "lab", "name": pod}} for pod, node in pods],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}


def _cluster() -> list[dict[str, Any]]:
    return [
        _service("web", "198.18.100.10", 8080, type="NodePort", nodePort=30080),
        _slice("web", 8080, [("web-0", NODE), ("web-1", NODE), ("web-2", NODE)]),
        _service("api", "198.18.100.20", 9090, type="LoadBalancer", nodePort=30090, externalTrafficPolicy="Local",
                 externalIPs=["198.18.200.5"]),
        _slice("api", 9090, [("api-0", "other-node")]),
        _service("empty", "198.18.100.30", 8080),
        _service("sticky", "198.18.100.50", 8080, sessionAffinity="ClientIP",
                 sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}}),
        _slice("sticky", 8080, [("web-0", NODE), ("web-1", NODE), ("web-2", NODE)]),
        _service("stale", "198.18.100.40", 8080),
        _slice("stale", 8080, [("web-0", NODE)]),
    ]


def _inputs(snapshot: Any) -> list[ProxyInput]:
    inputs = []
    for service in snapshot.services:
        endpoints = service_endpoints(snapshot, "lab", service["metadata"]["name"])
        if service["metadata"]["name"] == "stale":
            # kube-proxy still programs a Pod that is gone (198.19.0.99) instead of web-0.
            endpoints = [Endpoint("198.19.0.99", True, True, False, ObjectRef("Pod", "lab", "web-old"), NODE, "",
                                  "", (EndpointPort("http", 8080, "TCP"),), ObjectRef("EndpointSlice", "lab", "x"))]
        inputs.append(ProxyInput(service, endpoints))
    return inputs


def _predicted(trace: Any) -> set[str]:
    # A destination that is no listener's address (a Pod that is gone) answers nothing.
    names = {NAME_BY_IP[ip] for ip, _ in trace.destinations if ip in NAME_BY_IP}
    verdicts = trace.verdicts
    if "REJECT" in verdicts:
        names.add("refused")
    if "DROP" in verdicts or "" in verdicts or any(ip not in NAME_BY_IP for ip, _ in trace.destinations):
        names.add("timeout")
    return names


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_connections_land_where_the_tracer_says(mode: str) -> None:
    require(netns_usable(), "needs root and ip netns")
    snapshot = build_snapshot(_cluster())
    with Lab() as lab:
        for name, ip in PODS.items():
            lab.add_pod(name, ip)
            lab.listen_tcp(name, ip, 9090 if name.startswith("api") else 8080, reply=name)
        lab.add_client("client", CLIENT_IP)
        if mode == "iptables":
            lab.load_iptables(iptables_rules(_inputs(snapshot), node=NODE, cluster_cidr=POD_CIDR))
            dump = NodeDump(NODE, "iptables", iptables_save=lab.save_iptables())
        else:
            lab.load_nft(nft_rules(_inputs(snapshot), node=NODE, node_ips=[NODE_IP], cluster_cidr=POD_CIDR))
            dump = NodeDump(NODE, "nftables", nft_ruleset=lab.list_nft())
        dataplane = load(dump)
        assert dataplane.problems == ()

        def check(ip: str, port: int, times: int, expected: set[str]) -> Counter[str]:
            trace = dataplane.trace(Packet(ip, port, "tcp", CLIENT_IP), LOCAL)
            predicted = _predicted(trace)
            assert predicted == expected, (ip, port, trace.summary())
            timeout = 0.4 if "timeout" in expected else 2.0
            answers = Counter(lab.connect_tcp_repeated("client", ip, port, times, timeout=timeout))
            assert set(answers) <= predicted, (ip, port, answers, trace.summary())
            return answers

        web = {"web-0", "web-1", "web-2"}
        # ClusterIP and NodePort: spread over all three endpoints (probability 1/3 each).
        assert set(check("198.18.100.10", 80, 30, web)) == web
        assert set(check(NODE_IP, 30080, 30, web)) == web
        # externalTrafficPolicy: Local with the only endpoint on another node: ClusterIP works,
        # the NodePort and the external IP are dropped on this node.
        assert check("198.18.100.20", 80, 2, {"api-0"}) == Counter({"api-0": 2})
        assert check(NODE_IP, 30090, 1, {"timeout"}) == Counter({"timeout": 1})
        assert check("198.18.200.5", 80, 1, {"timeout"}) == Counter({"timeout": 1})
        # No endpoints: kube-proxy's reject rule makes the client see "refused" at once.
        assert check("198.18.100.30", 80, 2, {"refused"}) == Counter({"refused": 2})
        # Stale rules: they send to a Pod that is gone; the connection goes nowhere.
        assert check("198.18.100.40", 80, 1, {"timeout"}) == Counter({"timeout": 1})
        # Session affinity: the kernel keeps a client on one endpoint.
        sticky = check("198.18.100.50", 80, 8, web)
        assert len(sticky) == 1
        assert dataplane.trace(Packet("198.18.100.50", 80, "tcp", CLIENT_IP), LOCAL).affinity_seconds == 600

        # The Service-level analysis sees the same: the stale Service's rules miss its endpoint.
        by_service = {service["metadata"]["name"]: analysis.service_paths(
            dataplane, service, service_endpoints(snapshot, "lab", service["metadata"]["name"]), [NODE_IP])
            for service in snapshot.services}
        stale = by_service["stale"][0]
        assert stale.stale == {("198.19.0.99", 8080)} and stale.missing == {("198.19.0.10", 8080)}
        assert all(not path.stale and not path.missing for path in by_service["web"])
        assert by_service["empty"][0].specific_reject() is not None
