"""The tracer against what kube-proxy itself writes (../shared/oracles/kube-proxy).

Each rule set is checked twice: as kube-proxy's input to ``iptables-restore`` / ``nft -f``,
and as the kernel prints it back (``iptables-save`` / ``nft list ruleset``) after loading it
into a network namespace. Both forms must lead to the same conclusions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from svcdoctor.dataplane import analysis, iptables, ipvs, nftables
from svcdoctor.dataplane.interface import Packet, Ruleset
from svcdoctor.dataplane.node import load
from svcdoctor.dataplane.trace import trace
from svcdoctor.endpoints import service_endpoints
from svcdoctor.snapshot import NodeDump, build_snapshot
from svcdoctor.testing.kubeproxy import loadable_iptables, ordered_nft_transaction
from svcdoctor.testing.netns import Lab, netns_usable
from tests.conftest import ORACLES, require, shared_yaml

pytestmark = pytest.mark.shared("oracles/kube-proxy")
# In a git worktree (../wt/NAME) the shared oracles are one level further up.
ORACLE = ORACLES / "kube-proxy"
FLOWS = shared_yaml("oracles/kube-proxy/iptables-tracepacket-flows.yaml", {"flows": []})
NODE_IP = "192.168.0.2"

# What kube-proxy's fixture means for each way into each Service port, written from the table
# in iptables-overall.md (kube-proxy's TestOverallIPTablesRules fixture), not from our code.
EXPECTED_PATHS: dict[tuple[str, str, str, int], Any] = {
    ("ns1/svc1", "clusterIP", "172.30.0.41", 80): {"10.180.0.1:80"},
    ("ns2/svc2", "clusterIP", "172.30.0.42", 80): {"10.180.0.2:80"},
    ("ns2/svc2", "externalIP", "192.168.99.22", 80): "DROP",
    ("ns2/svc2", "loadBalancer", "1.2.3.4", 80): "DROP",
    ("ns2/svc2", "nodePort", NODE_IP, 3001): "DROP",
    ("ns3/svc3", "clusterIP", "172.30.0.43", 80): {"10.180.0.3:80"},
    ("ns3/svc3", "nodePort", NODE_IP, 3003): {"10.180.0.3:80"},
    ("ns4/svc4", "clusterIP", "172.30.0.44", 80): {"10.180.0.4:80", "10.180.0.5:80"},
    ("ns4/svc4", "externalIP", "192.168.99.33", 80): {"10.180.0.4:80", "10.180.0.5:80"},
    ("ns5/svc5", "clusterIP", "172.30.0.45", 80): {"10.180.0.3:80"},
    ("ns5/svc5", "loadBalancer", "5.6.7.8", 80): {"10.180.0.3:80"},
    ("ns5/svc5", "nodePort", NODE_IP, 3002): {"10.180.0.3:80"},
    ("ns6/svc6", "clusterIP", "172.30.0.46", 80): "REJECT",
}


@pytest.fixture(scope="module")
def read_back() -> Iterator[dict[str, str]]:
    """Every oracle rule set loaded into a namespace and printed back by the kernel's tools."""
    if not netns_usable():
        yield {}
        return
    forms: dict[str, str] = {}
    with Lab() as lab:
        for name in ("iptables-overall.txt", "iptables-tracepacket.txt"):
            lab.load_iptables(loadable_iptables((ORACLE / name).read_text()))
            forms[name] = lab.save_iptables()
            lab.run("node", ["iptables", "-t", "nat", "-F"])
            lab.run("node", ["iptables", "-t", "filter", "-F"])
        lab.load_nft(ordered_nft_transaction((ORACLE / "nftables-overall.txt").read_text()))
        forms["nftables-overall.txt"] = lab.list_nft()
    yield forms


def _ruleset(name: str, form: str, read_back: dict[str, str]) -> Ruleset:
    if form == "kernel":
        require(netns_usable(), "reading rules back needs root and ip netns")
        text = read_back[name]
        assert "COMMIT" in text or "table ip kube-proxy" in text
    else:
        text = (ORACLE / name).read_text()
    ruleset = nftables.parse(text) if name.startswith("nftables") else iptables.parse(text)
    assert ruleset.problems == ()
    return ruleset


def _outcome(result: Any) -> str:
    destinations = sorted(f"{ip}:{port}" for ip, port in result.destinations)
    return ", ".join(destinations) if destinations else ",".join(sorted(result.verdicts - {""}))


@pytest.mark.parametrize("form", ["restore-input", "kernel"])
@pytest.mark.parametrize("name", ["iptables-tracepacket.txt", "iptables-overall.txt", "nftables-overall.txt"])
@pytest.mark.parametrize("flow", FLOWS["flows"], ids=[flow["name"] for flow in FLOWS["flows"]])
def test_kube_proxy_packet_flows(flow: dict[str, Any], name: str, form: str, read_back: dict[str, str]) -> None:
    ruleset = _ruleset(name, form, read_back)
    expected = flow["output"]
    if name.startswith("nftables") and expected == "ACCEPT":
        # The health-check ACCEPT is an iptables-mode rule; nftables mode has no such rule.
        expected = ""
    result = trace(ruleset, Packet(flow["dst"], flow["dport"], flow.get("protocol", "tcp"), flow["src"]),
                   FLOWS["local_ips"])
    assert _outcome(result) == ", ".join(sorted(part.strip() for part in expected.split(",") if part.strip()))
    assert result.masquerade is flow["masq"]
    if "," in expected:
        assert all(abs(probability - 0.5) < 1e-9 for probability in result.destinations.values())


def _paths(ruleset_text: str, kind: str) -> dict[tuple[str, str, str, int], analysis.PathResult]:
    snapshot = build_snapshot([obj for obj in yaml.safe_load_all((ORACLE / "services-overall.yaml").read_text())
                               if obj])
    dump = NodeDump("test-node", "", **{kind: ruleset_text})
    dataplane = load(dump)
    found = {}
    for service in snapshot.services:
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        for path in analysis.service_paths(dataplane, service, service_endpoints(snapshot, namespace, name),
                                           [NODE_IP]):
            found[(f"{namespace}/{name}", path.kind, path.address, path.port)] = path
    return found


@pytest.mark.parametrize("form", ["restore-input", "kernel"])
@pytest.mark.parametrize("name", ["iptables-overall.txt", "nftables-overall.txt"])
def test_every_service_port_reaches_exactly_its_endpoints(name: str, form: str, read_back: dict[str, str]) -> None:
    if form == "kernel":
        require(netns_usable(), "reading rules back needs root and ip netns")
        text = read_back[name]
    else:
        text = (ORACLE / name).read_text()
    paths = _paths(text, "nft_ruleset" if name.startswith("nftables") else "iptables_save")
    assert set(paths) == set(EXPECTED_PATHS)
    for key, expected in EXPECTED_PATHS.items():
        path = paths[key]
        if isinstance(expected, set):
            assert {f"{ip}:{port}" for ip, port in path.reached} == expected, key
            assert not path.stale and not path.missing, key
            assert path.trace.verdicts == set(), key
        else:
            assert path.trace.verdicts == {expected}, key
            assert not path.reached, key
    # kube-proxy's "has no endpoints" reject is told apart from a catch-all reject.
    assert paths[("ns6/svc6", "clusterIP", "172.30.0.46", 80)].specific_reject() is not None
    # Session affinity: 10800 s for svc5 (recent module / nft affinity set).
    assert paths[("ns5/svc5", "clusterIP", "172.30.0.45", 80)].trace.affinity_seconds == 10800
    # Every external path but Local-policy drops is masqueraded; ClusterIP from outside too.
    assert paths[("ns3/svc3", "nodePort", NODE_IP, 3003)].trace.masquerade


@pytest.mark.parametrize("form", ["restore-input", "kernel"])
def test_load_balancer_source_ranges(form: str, read_back: dict[str, str]) -> None:
    for name in ("iptables-overall.txt", "nftables-overall.txt"):
        ruleset = _ruleset(name, form, read_back)
        allowed = trace(ruleset, Packet("5.6.7.8", 80, "tcp", "203.0.113.5"), FLOWS["local_ips"])
        denied = trace(ruleset, Packet("5.6.7.8", 80, "tcp", "203.0.113.200"), FLOWS["local_ips"])
        assert set(allowed.destinations) == {("10.180.0.3", 80)} and allowed.masquerade, name
        assert denied.verdicts == {"DROP"} and not denied.destinations, name
        # The NodePort of the same Service bypasses the source ranges.
        node_port = trace(ruleset, Packet(NODE_IP, 3002, "tcp", "203.0.113.200"), FLOWS["local_ips"])
        assert set(node_port.destinations) == {("10.180.0.3", 80)}, name


def test_nftables_rejects_wrong_ports_of_cluster_ips_and_drops_unallocated_ones() -> None:
    ruleset = nftables.parse((ORACLE / "nftables-overall.txt").read_text())
    wrong_port = trace(ruleset, Packet("172.30.0.41", 81, "tcp", "10.0.0.2"), FLOWS["local_ips"])
    unallocated = trace(ruleset, Packet("172.30.0.99", 80, "tcp", "10.0.0.2"), FLOWS["local_ips"])
    assert wrong_port.verdicts == {"REJECT"}
    assert unallocated.verdicts == {"DROP"}


def test_ipvs_readme_dump() -> None:
    table = ipvs.parse((ORACLE / "ipvs-readme-ipvsadm.txt").read_text())
    assert table.problems == ()
    api = ipvs.trace(table, Packet("10.0.0.1", 443))
    assert api.destinations == {("192.168.0.1", 6443): 1.0}
    assert api.affinity_seconds == 10800
    for protocol in ("tcp", "udp"):
        assert ipvs.trace(table, Packet("10.0.0.10", 53, protocol)).destinations == {("172.17.0.2", 53): 1.0}
    assert ipvs.trace(table, Packet("10.0.0.10", 53, "sctp")).destinations == {}


def _render_ipvsadm(servers: list[dict[str, Any]]) -> str:
    lines = []
    for server in servers:
        lines.append(f"{server['protocol']}  {server['address']}:{server['port']} {server['scheduler']}")
        lines += [f"  -> {real:<28} Masq    1      0          0" for real in server["realServers"]]
    return "\n".join(lines) + "\n"


def _case_objects(case: dict[str, Any]) -> list[dict[str, Any]]:
    service = case["service"]
    spec: dict[str, Any] = {"type": service["type"], "clusterIP": service["clusterIP"],
                            "ports": [{"name": service["portName"], "port": service["port"],
                                       "protocol": service["protocol"], "nodePort": service["nodePort"]}]}
    if service.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = service["externalTrafficPolicy"]
    objects: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Service",
                                      "metadata": {"namespace": service["ns"], "name": service["name"]},
                                      "spec": spec}]
    for index, endpoint_slice in enumerate(case["endpointSlices"]):
        objects.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                        "metadata": {"namespace": service["ns"], "name": f"{service['name']}-{index}",
                                     "labels": {"kubernetes.io/service-name": service["name"]}},
                        "addressType": endpoint_slice["addressType"], "endpoints": endpoint_slice["endpoints"],
                        "ports": [{"name": service["portName"], "port": endpoint_slice["port"],
                                   "protocol": service["protocol"]}]})
    return objects


@pytest.mark.parametrize("case", shared_yaml("oracles/kube-proxy/ipvs-nodeport-cases.yaml", {"cases": []})["cases"],
                         ids=lambda case: case["name"])
def test_ipvs_nodeport_cases(case: dict[str, Any]) -> None:
    text = case.get("ipvsadm_like") or _render_ipvsadm(case["expected"]["virtualServers"])
    table = ipvs.parse(text)
    assert table.problems == ()
    for server in case["expected"]["virtualServers"]:
        result = ipvs.trace(table, Packet(server["address"], server["port"], server["protocol"].lower()))
        expected = set(server["realServers"])
        assert {f"{ip}:{port}" for ip, port in result.destinations} == expected
        if not expected:
            assert result.verdicts == {"DROP"}
    # The Service-level view agrees: every path reaches exactly the endpoints kube-proxy should use
    # (only the local one for NodePort under externalTrafficPolicy: Local).
    snapshot = build_snapshot(_case_objects(case))
    service = snapshot.services[0]
    endpoints = service_endpoints(snapshot, service["metadata"]["namespace"], service["metadata"]["name"])
    dataplane = load(NodeDump("test-node", "ipvs", ipvsadm=text))
    paths = analysis.service_paths(dataplane, service, endpoints, case["nodeIPs"])
    assert len(paths) == len(case["expected"]["virtualServers"])
    for path in paths:
        if path.expect == "endpoints":
            assert not path.stale and not path.missing, path.label
        else:
            assert path.dropped, path.label
