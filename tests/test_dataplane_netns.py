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
from svcdoctor.dataplane.interface import Packet, client_sees
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
    for _, rule in trace.rejects():
        sees = client_sees(rule.action[1]) if rule is not None else ""
        names.add({"connection refused": "refused", "no route to host": "unreachable",
                   "network is unreachable": "unreachable"}.get(sees, sees))
    if "DROP" in verdicts or "" in verdicts or any(ip not in NAME_BY_IP for ip, _ in trace.destinations):
        names.add("timeout")
    return names


#: How a node's rules are loaded and then printed: kube-proxy's two modes as the tools print them,
#: iptables-save with counters (-c), an iptables-nft node printed by nft list ruleset, and
#: kube-proxy's nftables mode since late 2025 (DNAT from numgen maps in the Service chain).
MODES = ["iptables", "nftables", "iptables-counters", "iptables-nft-listed", "nftables-dnat-maps"]


@pytest.mark.parametrize("mode", MODES)
def test_connections_land_where_the_tracer_says(mode: str) -> None:
    require(netns_usable(), "needs root and ip netns")
    snapshot = build_snapshot(_cluster())
    with Lab() as lab:
        for name, ip in PODS.items():
            lab.add_pod(name, ip)
            lab.listen_tcp(name, ip, 9090 if name.startswith("api") else 8080, reply=name)
        lab.add_client("client", CLIENT_IP)
        if mode.startswith("iptables"):
            lab.load_iptables(iptables_rules(_inputs(snapshot), node=NODE, cluster_cidr=POD_CIDR))
            if mode == "iptables-counters":
                printed = lab.run("node", ["iptables-save", "-c"]).stdout
                assert "[0:0] -A KUBE-SERVICES" in printed
                dump = NodeDump(NODE, "", iptables_save=printed)
            elif mode == "iptables-nft-listed":
                printed = lab.list_nft()
                assert "meta random & 2147483647 <" in printed and "xt match recent" in printed
                dump = NodeDump(NODE, "", nft_ruleset=printed)
            else:
                dump = NodeDump(NODE, "", iptables_save=lab.save_iptables())
        else:
            lab.load_nft(nft_rules(_inputs(snapshot), node=NODE, node_ips=[NODE_IP], cluster_cidr=POD_CIDR,
                                   dnat_maps=mode == "nftables-dnat-maps"))
            dump = NodeDump(NODE, "", nft_ruleset=lab.list_nft())
            if mode == "nftables-dnat-maps":
                assert "dnat ip to numgen random mod 3 map {" in dump.nft_ruleset
        dataplane = load(dump)
        assert dataplane.problems == ()
        assert dataplane.mode == ("iptables" if mode.startswith("iptables") else "nftables")

        def check(ip: str, port: int, times: int, expected: set[str]) -> Counter[str]:
            trace = dataplane.trace(Packet(ip, port, "tcp", CLIENT_IP), LOCAL)
            assert trace.decided, trace.undecided
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
        if mode == "iptables-nft-listed":
            # nft prints iptables' recent match as `xt match recent`, without saying whether it
            # checks (affinity) or records: not guessed, the trace is undecided and quotes it.
            undecided = dataplane.trace(Packet("198.18.100.50", 80, "tcp", CLIENT_IP), LOCAL).undecided
            assert undecided and all("xt match recent" in line for line in undecided)
            return
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


def test_a_host_firewall_reject_is_the_reject_that_matters() -> None:
    """kube-proxy DNATs a Service to an endpoint on the node itself (a host-network server, like the
    API server behind `kubernetes`), and the node's own firewall ends INPUT with
    `-j REJECT --reject-with icmp-host-prohibited`. The client sees "no route to host"; that
    rule, not a kube-proxy rule, is what rejected the packet, and it is not "has no endpoints"."""
    require(netns_usable(), "needs root and ip netns")
    import yaml

    from tests.conftest import run_cli

    service = _service("apiserver", "198.18.100.60", 6443)
    service["spec"]["ports"][0]["port"] = 443
    endpoint_slice = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"namespace": "lab", "name": "apiserver-x1",
                                   "labels": {"kubernetes.io/service-name": "apiserver"}},
                      "addressType": "IPv4",
                      "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}, "nodeName": NODE}],
                      "ports": [{"name": "http", "port": 6443, "protocol": "TCP"}]}
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
            "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}]}}
    objects: list[dict[str, Any]] = [service, endpoint_slice, node]
    snapshot = build_snapshot(objects)
    rules = iptables_rules([ProxyInput(service, service_endpoints(snapshot, "lab", "apiserver"))], node=NODE,
                           cluster_cidr=POD_CIDR)
    # The host firewall (a RHEL-style default), appended after kube-proxy's jumps.
    firewall = ("-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -i lo -j ACCEPT\n"
                "-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT\n"
                "-A INPUT -j REJECT --reject-with icmp-host-prohibited\n")
    head, _, tail = rules.partition("*filter\n")
    body, _, rest = tail.partition("COMMIT\n")
    rules = f"{head}*filter\n{body}{firewall}COMMIT\n{rest}"
    with Lab() as lab:
        lab.add_client("client", CLIENT_IP)
        lab.listen_tcp("node", NODE_IP, 6443, reply="apiserver")
        lab.load_iptables(rules)
        printed = lab.save_iptables()
        trace = load(NodeDump(NODE, "", iptables_save=printed)).trace(Packet("198.18.100.60", 443, "tcp", CLIENT_IP),
                                                                      LOCAL)
        assert trace.decided, trace.undecided
        assert _predicted(trace) == {"unreachable"}
        assert lab.connect_tcp("client", "198.18.100.60", 443) == "unreachable"
    objects.append({"apiVersion": "svcdoctor.dev/v1", "kind": "NodeDump", "metadata": {"name": NODE},
                    "iptablesSave": printed})
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "snapshot.yaml"
        path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
        report = run_cli("check", "apiserver", "-n", "lab", "--snapshot", str(path), "-o", "json").json()
    ids = [finding["id"] for finding in report["findings"]]
    assert "SD805" not in ids, report["findings"]
    (blocked,) = [finding for finding in report["findings"] if finding["id"] == "SD803"]
    assert "no route to host" in blocked["message"] and "icmp-host-prohibited" in blocked["message"]
    assert "KUBE-MARK-MASQ" not in blocked["message"]
    assert any("REJECT --reject-with icmp-host-prohibited" in line
               for item in blocked["evidence"] for line in (item.get("value") or []) if isinstance(line, str))
