"""Every format people print a node's rules in is read — or what is not read is said.

Fixtures in ../fixtures/nodedumps, written for these tests in the shapes the tools print (see its
README): ``iptables-save -c``, ``ipvsadm -L`` with names, kube-proxy's nftables mode since late
2025 (DNAT from a numgen map in the Service chain), and an iptables-nft node with a RHEL-style
host firewall as ``nft list ruleset`` prints it. The netns tests (test_dataplane_netns.py) load
the same formats into a real kernel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from svcdoctor.dataplane import iptables, ipvs, nftables
from svcdoctor.dataplane.interface import Packet, client_sees
from svcdoctor.dataplane.node import load
from svcdoctor.snapshot import NodeDump
from svcdoctor.testing.netns import Lab, netns_usable
from tests.conftest import ROOT, require, run_cli

DUMPS = ROOT / "fixtures" / "nodedumps"
WEB = {("10.244.1.5", 8080): 0.5, ("10.244.2.6", 8080): 0.5}
OUTSIDE = "203.0.113.77"
CONTROL_PLANE_IP = "192.168.56.10"


def _text(name: str) -> str:
    return (DUMPS / name).read_text()


def _service(namespace: str, name: str, cluster_ip: str, port: int, target: int, *, protocol: str = "TCP",
             node_port: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "NodePort" if node_port else "ClusterIP", "clusterIP": cluster_ip,
                            "clusterIPs": [cluster_ip],
                            "ports": [{"name": "http", "port": port, "targetPort": target, "protocol": protocol,
                                       **({"nodePort": node_port} if node_port else {})}]}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": namespace, "name": name}, "spec": spec}


def _slice(namespace: str, service: str, port: int, addresses: list[str], *, protocol: str = "TCP") -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"namespace": namespace, "name": f"{service}-abcde",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}, "nodeName": "cp-1"}
                          for address in addresses],
            "ports": [{"name": "http", "port": port, "protocol": protocol}]}


def _cluster(node: str, node_ip: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
         "status": {"addresses": [{"type": "InternalIP", "address": node_ip}]}},
        _service("default", "kubernetes", "10.96.0.1", 443, 6443),
        _slice("default", "kubernetes", 6443, [CONTROL_PLANE_IP]),
        _service("shop", "web", "10.96.120.7", 80, 8080, node_port=30080),
        _slice("shop", "web", 8080, ["10.244.1.5", "10.244.2.6"]),
        _service("shop", "empty", "10.96.88.8", 80, 8080),
    ]


def _check(tmp_path: Path, objects: list[dict[str, Any]], namespace: str, name: str) -> dict[str, Any]:
    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    return run_cli("check", name, "-n", namespace, "--snapshot", str(path), "-o", "json").json()  # type: ignore[no-any-return]


def _dump(node: str, **texts: str) -> dict[str, Any]:
    return {"apiVersion": "svcdoctor.dev/v1", "kind": "NodeDump", "metadata": {"name": node}, **texts}


def _step(report: dict[str, Any], number: int) -> dict[str, Any]:
    (step,) = [step for step in report["steps"] if step["step"] == number]
    return step  # type: ignore[no-any-return]


def test_iptables_save_with_counters_is_read_as_without() -> None:
    counted = _text("iptables-save-counters.txt")
    plain = "\n".join(line.split("] ", 1)[1] if line.startswith("[") else line for line in counted.splitlines())
    with_counters, without = iptables.parse(counted), iptables.parse(plain)
    assert with_counters.problems == () and with_counters.unplaced == ()
    assert with_counters.rule_count == without.rule_count == 36
    result = load(NodeDump("cp-1", "", iptables_save=counted)).trace(Packet("10.96.120.7", 80, "tcp", OUTSIDE))
    assert result.decided and result.destinations == WEB


def test_a_working_node_dumped_with_counters_passes_step_8(tmp_path: Path) -> None:
    objects = [*_cluster("cp-1", "192.168.56.11"), _dump("cp-1", iptablesSave=_text("iptables-save-counters.txt"))]
    report = _check(tmp_path, objects, "shop", "web")
    assert not [finding for finding in report["findings"] if finding["id"].startswith("SD80")], report["findings"]
    assert _step(report, 8)["status"] in ("pass", "partial")


def test_ipvsadm_with_names_reads_port_names_and_quotes_host_names() -> None:
    table = ipvs.parse(_text("ipvsadm-L-names.txt"))
    web = table.lookup("tcp", "10.96.120.7", 80)
    assert web is not None and {(real.ip, real.port) for real in web.real_servers} == set(WEB)
    assert table.lookup("udp", "10.96.0.10", 53) is not None and table.lookup("tcp", "127.0.0.1", 30080) is not None
    # A host name cannot be turned back into the address ipvsadm resolved it from.
    assert any("cp-1.lab.example:30080" in line for line in table.unplaced)
    result = ipvs.trace(table, Packet("10.96.120.7", 80, "tcp", OUTSIDE))
    assert result.decided and result.destinations == WEB
    kubernetes = ipvs.trace(table, Packet("10.96.0.1", 443, "tcp", OUTSIDE))
    assert not kubernetes.decided and any("cp-1.lab.example:sun-sr-https" in line for line in kubernetes.undecided)
    # A NodePort on an address it cannot find may be the virtual server it could not read.
    nodeport = ipvs.trace(table, Packet("192.168.56.11", 30080, "tcp", OUTSIDE))
    assert not nodeport.decided


def test_newest_nftables_mode_dnat_from_numgen_maps() -> None:
    ruleset = nftables.parse(_text("nft-kube-proxy-dnat-maps.nft"))
    assert ruleset.problems == ()
    dataplane = load(NodeDump("cp-1", "", nft_ruleset=_text("nft-kube-proxy-dnat-maps.nft")))
    assert dataplane.mode == "nftables" and dataplane.has_kube_proxy_rules
    web = dataplane.trace(Packet("10.96.120.7", 80, "tcp", OUTSIDE), ["192.168.56.11"])
    assert web.decided and web.destinations == WEB and web.masquerade
    nodeport = dataplane.trace(Packet("192.168.56.11", 30080, "tcp", OUTSIDE), ["192.168.56.11"])
    assert nodeport.decided and nodeport.destinations == WEB
    # Hairpin: an endpoint reaching itself through the Service is masqueraded (ct status dnat + the set).
    hairpin = dataplane.trace(Packet("10.96.0.10", 53, "udp", "10.244.0.2"), ["192.168.56.11"])
    assert hairpin.destinations == {("10.244.0.2", 53): 1.0} and hairpin.masquerade
    empty = dataplane.trace(Packet("10.96.88.8", 80, "tcp", OUTSIDE), ["192.168.56.11"])
    ((share, rule),) = empty.rejects()
    assert share == 1.0 and rule is not None and client_sees(rule.action[1]) == "connection refused"


def test_newest_nftables_mode_is_no_false_sd802(tmp_path: Path) -> None:
    objects = [*_cluster("cp-1", "192.168.56.11"), _dump("cp-1", nftRuleset=_text("nft-kube-proxy-dnat-maps.nft"))]
    report = _check(tmp_path, objects, "shop", "web")
    assert not [finding for finding in report["findings"] if finding["id"].startswith("SD80")], report["findings"]
    empty = _check(tmp_path, objects, "shop", "empty")
    assert "SD805" in [finding["id"] for finding in empty["findings"]]


def test_iptables_nft_node_printed_by_nft_with_a_host_firewall(tmp_path: Path) -> None:
    listing = _text("nft-iptables-nft-host-firewall.nft")
    dataplane = load(NodeDump("cp-1", "", nft_ruleset=listing))
    assert dataplane.problems == () and dataplane.mode == "iptables" and dataplane.has_kube_proxy_rules
    local = [CONTROL_PLANE_IP]
    web = dataplane.trace(Packet("10.96.120.7", 80, "tcp", OUTSIDE), local)
    assert web.decided and web.destinations == WEB  # meta random & 2147483647 < 1073741824: one in two
    # The API server is on this node: after kube-proxy's DNAT the packet meets INPUT's last rule.
    kubernetes = dataplane.trace(Packet("10.96.0.1", 443, "tcp", OUTSIDE), local)
    ((_, rule),) = kubernetes.rejects()
    assert kubernetes.decided and rule is not None and rule.chain == "INPUT"
    assert client_sees(rule.action[1]) == "no route to host"
    objects = [*_cluster("cp-1", CONTROL_PLANE_IP), _dump("cp-1", nftRuleset=listing)]
    report = _check(tmp_path, objects, "default", "kubernetes")
    ids = [finding["id"] for finding in report["findings"]]
    assert "SD805" not in ids and "SD802" not in ids, report["findings"]
    (blocked,) = [finding for finding in report["findings"] if finding["id"] == "SD803"]
    assert "no route to host" in blocked["message"] and "host-prohibited" in blocked["message"]
    empty = _check(tmp_path, objects, "shop", "empty")
    (reject,) = [finding for finding in empty["findings"] if finding["id"] == "SD805"]
    assert "connection refused" in reject["message"]


def test_physdev_is_false_for_the_routed_packets_traced() -> None:
    text = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m physdev --physdev-is-bridged -j DROP
-A FORWARD -m physdev ! --physdev-is-in -j ACCEPT
COMMIT
"""
    result = load(NodeDump("n", "", iptables_save=text)).trace(Packet("10.0.0.9", 80, "tcp", OUTSIDE))
    assert result.decided and result.verdicts == {"ACCEPT"}


REALWORLD = ROOT.parent / "shared" / "realworld-dev" / "nodedumps"


def _service_packets(text: str) -> list[Packet]:
    """A new connection to every ClusterIP:port that kube-proxy's dispatch chain names (read from the rules, not
    from the file's name)."""
    ruleset = iptables.parse(text)
    packets = []
    for (table, name), chain in ruleset.chains.items():
        if table != "nat" or name != "KUBE-SERVICES":
            continue
        for rule in chain.rules:
            found = {match[0]: match for match in rule.matches}
            if "daddr" in found and "dport" in found and rule.action[0] == "jump":
                network = found["daddr"][1][0]
                address = ".".join(str(network[1] >> shift & 255) for shift in (24, 16, 8, 0))
                packets.append(Packet(address, found["dport"][1][0][0], found.get("proto", ("", "tcp"))[1], OUTSIDE))
    return packets


def test_real_dumps_read_whole_and_every_service_is_decided() -> None:
    for path in sorted(REALWORLD.glob("*.txt")):
        text = path.read_text()
        if "iptables-save" in path.name:
            dump = NodeDump("n", "", iptables_save=text)
        elif "ipvsadm" in path.name:
            dump = NodeDump("n", "", ipvsadm=text)
        else:
            continue  # Cilium's service lists are another engineer's parser
        dataplane = load(dump)
        assert dataplane.problems == () and dataplane.has_kube_proxy_rules, path.name
        packets = (_service_packets(text) if dump.iptables_save else
                   [Packet(server.ip, server.port, server.protocol.lower(), OUTSIDE)
                    for server in (dataplane.ipvs.services.values() if dataplane.ipvs else ())])
        assert packets, path.name
        for packet in packets:
            result = dataplane.trace(packet)
            assert result.decided and result.destinations, (path.name, str(packet), result.undecided)


@pytest.mark.netns
def test_real_dumps_reprinted_by_the_kernel_with_counters_and_by_nft_trace_the_same() -> None:
    """The published iptables-save dumps, loaded into a network namespace, printed again as people
    print them (`iptables-save -c`, and `nft list ruleset` on an iptables-nft node): every Service
    ends where it ends from the published text."""
    require(netns_usable(), "needs root and ip netns")
    for path in sorted(REALWORLD.glob("*.iptables-save.txt")):
        text = path.read_text()
        with Lab() as lab:
            lab.load_iptables(text)
            counted = lab.run("node", ["iptables-save", "-c"]).stdout
            listed = lab.list_nft()
        assert "[0:0] -A KUBE-SERVICES" in counted
        published, with_counters, by_nft = (load(NodeDump("n", "", **texts)) for texts in (
            {"iptables_save": text}, {"iptables_save": counted}, {"nft_ruleset": listed}))
        assert with_counters.problems == by_nft.problems == ()
        assert by_nft.mode == with_counters.mode == "iptables"
        # `collect node` records both on an iptables-nft node: the tables both print are read once.
        firewall = ("table inet host-firewall {\n\tchain input {\n"
                    "\t\ttype filter hook input priority 0; policy accept;\n\t}\n}\n")
        both = load(NodeDump("n", "", iptables_save=counted, nft_ruleset=listed + firewall))
        assert [ruleset.source for ruleset in both.rulesets] == ["iptables", "nftables"]
        assert {table for table, _ in both.rulesets[1].chains} == {"inet host-firewall"}
        for packet in _service_packets(text):
            expected = published.trace(packet).destinations
            assert with_counters.trace(packet).destinations == expected, (path.name, str(packet))
            result = by_nft.trace(packet)
            assert result.decided and result.destinations == pytest.approx(expected), (path.name, str(packet))
