"""SD807's kube-proxy part: the masquerade kube-proxy writes for a Pod's connection to its own Service
that lands back on it (iptables ``-s <pod IP>/32 -j KUBE-MARK-MASQ`` in each KUBE-SEP chain, nftables
``ip saddr <pod IP> jump mark-for-masquerade``, IPVS's KUBE-LOOP-BACK ipset rule), read from the
client's node dump — on a real node's iptables-save, on kube-proxy-shaped rules of each mode, and
against the kernel in a network namespace (without the rule the connection really fails).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from svcdoctor.dataplane.hairpin import hairpins
from svcdoctor.dataplane.node import load
from svcdoctor.snapshot import NodeDump, build_snapshot
from svcdoctor.testing.cluster import ClusterBuilder
from svcdoctor.testing.flannel import flannel
from svcdoctor.testing.kubeproxy import as_iptables_save, iptables_rules, ipvsadm_text, nft_rules, proxy_inputs
from svcdoctor.testing.netns import NODE_IP, POD_CIDR, POD_GATEWAY, Lab, netns_usable
from tests.conftest import ROOT, require, require_shared
from tests.test_env_and_dual_stack import check_report, findings_of

REAL_DUMP = ROOT / ".." / "shared" / "realworld-dev" / "nodedumps" / "flannel-2023-k8s126-worker1.iptables-save.txt"


def _step(report: dict[str, Any], number: int) -> dict[str, Any]:
    return next(s for s in report["steps"] if s["step"] == number)


def _missing(step: dict[str, Any]) -> str:
    return " ".join(item["what"] for item in step.get("missing", []) if "SD807" in item["checks"])


# -- a real node's iptables-save (flannel, kube-proxy iptables mode, Kubernetes 1.26) ----------------


def _jtest(dump: str) -> tuple[list[dict[str, Any]], str]:
    """Service default/jtest and its two Pods as that dump shows them; the client is the Pod on k8s-worker1."""
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("default")
    b.node("k8s-worker1", "192.168.205.146", pod_cidr="10.244.1.0/24")
    b.node("k8s-worker2", "192.168.205.147", pod_cidr="10.244.2.0/24")
    flannel(b, hairpin=True)
    http = [{"containerPort": 8080}]
    pods = b.deployment("default", "jtest", {"app": "jtest"}, [b.container("jtest", "example/jtest:1", http)],
                        replicas=2, nodes=["k8s-worker1", "k8s-worker2"])
    for pod, ip in zip(pods, ("10.244.1.19", "10.244.2.17"), strict=True):
        pod["status"]["podIP"], pod["status"]["podIPs"] = ip, [{"ip": ip}]
    service = b.service("default", "jtest", {"app": "jtest"}, [{"port": 8080, "targetPort": 8080}])
    service["spec"]["clusterIP"], service["spec"]["clusterIPs"] = "10.97.121.82", ["10.97.121.82"]
    b.node_dump("k8s-worker1", "iptables", iptablesSave=dump)
    return b.build(), f"default/{pods[0]['metadata']['name']}"


def _real_dump(*dropped: str) -> str:
    require_shared("realworld-dev/nodedumps/flannel-2023-k8s126-worker1.iptables-save.txt")
    lines = REAL_DUMP.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not any(line.startswith(prefix) for prefix in dropped)]
    assert len(kept) == len(lines) - len(dropped)
    return "".join(kept)


def test_a_real_nodes_rules_masquerade_the_pods_own_traffic(tmp_path: Path) -> None:
    objects, client = _jtest(_real_dump())
    report = check_report(objects, tmp_path, "jtest", "-n", "default", "--from", client)
    assert not findings_of(report, "SD807")
    assert "SD807" in _step(report, 8)["checked"] and not _missing(_step(report, 8))


def test_without_the_endpoint_chains_masquerade_rule_it_is_said(tmp_path: Path) -> None:
    objects, client = _jtest(_real_dump("-A KUBE-SEP-M6GS57VBAWSHNQMT -s 10.244.1.19/32"))
    [finding] = findings_of(check_report(objects, tmp_path, "jtest", "-n", "default", "--from", client), "SD807")
    # One of two endpoints: about half of the client's connections land on itself.
    assert finding["severity"] == "warning" and "on node k8s-worker1" in finding["message"]
    assert "does not start with `-s 10.244.1.19/32 -j KUBE-MARK-MASQ`" in finding["message"]
    assert "10.97.121.82:8080/TCP" in finding["message"] and "(10.244.1.19:8080)" in finding["message"]
    assert any("KUBE-SEP-M6GS57VBAWSHNQMT" in line for e in finding["evidence"] for line in e.get("value") or [])


def test_a_mark_nothing_masquerades_is_no_masquerade(tmp_path: Path) -> None:
    """POSTROUTING lost its jump to KUBE-POSTROUTING (another program rewrote the nat table)."""
    objects, client = _jtest(_real_dump('-A POSTROUTING -m comment --comment "kubernetes postrouting rules"'))
    [finding] = findings_of(check_report(objects, tmp_path, "jtest", "-n", "default", "--from", client), "SD807")
    assert "marked for masquerade (`-A KUBE-SEP-M6GS57VBAWSHNQMT -s 10.244.1.19/32" in finding["message"]
    assert "nothing in nat POSTROUTING masquerades that mark" in finding["message"]


# -- kube-proxy's three modes, as kube-proxy writes them ---------------------------------------------


def _chat(mode: str, drop: str = "", *, iptables_save: bool = True) -> tuple[list[dict[str, Any]], str, str]:
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("talk")
    b.node("node-a", "172.18.0.2", pod_cidr="10.244.0.0/24")
    flannel(b, hairpin=True)
    http = [{"name": "http", "containerPort": 8080}]
    [pod] = b.deployment("talk", "chat", {"app": "chat"}, [b.container("chat", "example/chat:2", http)], replicas=1)
    b.service("talk", "chat", {"app": "chat"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    objects = b.build()
    inputs = proxy_inputs(objects)
    ip = pod["status"]["podIP"]
    texts: dict[str, str] = {}
    if mode == "iptables":
        texts["iptablesSave"] = as_iptables_save(iptables_rules(inputs, node="node-a", cluster_cidr="10.244.0.0/16"))
    elif mode.startswith("nftables"):
        texts["nftRuleset"] = nft_rules(inputs, node="node-a", node_ips=["172.18.0.2"], cluster_cidr="10.244.0.0/16",
                                        dnat_maps=mode == "nftables-dnat-maps")
    else:
        texts["ipvsadm"] = ipvsadm_text(inputs, node="node-a", node_ips=["172.18.0.2"])
        if iptables_save:
            texts["iptablesSave"] = as_iptables_save("\n".join([
                "*nat", ":POSTROUTING ACCEPT [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]",
                '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
                '-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving '
                'hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE',
                "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
                "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
                '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE '
                "--random-fully", "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000", "COMMIT", ""]))
    for key, text in texts.items():
        kept = [line for line in text.splitlines(keepends=True) if not drop or drop.format(ip=ip) not in line]
        assert not drop or len(kept) < len(text.splitlines()) or key == "ipvsadm"
        texts[key] = "".join(kept)
    b.node_dump("node-a", mode.split("-")[0], **texts)
    return b.build(reconcile=False), f"talk/{pod['metadata']['name']}", ip


@pytest.mark.parametrize(("mode", "rule", "said"), [
    ("iptables", "-s {ip}/32 -m comment", "does not start with `-s {ip}/32 -j KUBE-MARK-MASQ`"),
    ("nftables", "ip saddr {ip} jump mark-for-masquerade", "does not mark source {ip}"),
    # kube-proxy since late 2025: DNAT straight from a numgen map, hairpin masqueraded through a set.
    ("nftables-dnat-maps", "@hairpin-connections masquerade", "nor does the masquerading chain match"),
])
def test_each_mode_with_and_without_the_rule(mode: str, rule: str, said: str, tmp_path: Path) -> None:
    objects, client, ip = _chat(mode)
    report = check_report(objects, tmp_path, "chat", "-n", "talk", "--from", client)
    assert not findings_of(report, "SD807") and not _missing(_step(report, 8))
    objects, client, ip = _chat(mode, rule)
    [finding] = findings_of(check_report(objects, tmp_path, "chat", "-n", "talk", "--from", client), "SD807")
    assert finding["severity"] == "error" and said.format(ip=ip) in finding["message"]


def test_ipvs_mode_needs_the_loop_back_rule_and_its_set_is_not_in_the_dump(tmp_path: Path) -> None:
    objects, client, _ = _chat("ipvs")
    report = check_report(objects, tmp_path, "chat", "-n", "talk", "--from", client)
    assert not findings_of(report, "SD807")
    assert "KUBE-LOOP-BACK ipset's members are not in the dump" in _missing(_step(report, 8))
    objects, client, _ = _chat("ipvs", "--match-set KUBE-LOOP-BACK")
    [finding] = findings_of(check_report(objects, tmp_path, "chat", "-n", "talk", "--from", client), "SD807")
    assert "no `-m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE`" in finding["message"]
    objects, client, _ = _chat("ipvs", iptables_save=False)
    report = check_report(objects, tmp_path, "chat", "-n", "talk", "--from", client)
    assert not findings_of(report, "SD807") and "has no iptables-save" in _missing(_step(report, 8))


def test_without_a_dump_of_the_clients_node_it_is_not_checked(tmp_path: Path) -> None:
    objects, client, _ = _chat("iptables")
    report = check_report([o for o in objects if o.get("kind") != "NodeDump"], tmp_path, "chat", "-n", "talk",
                          "--from", client)
    assert not findings_of(report, "SD807") and "no node dump" in _missing(_step(report, 8))


# -- the kernel agrees ---------------------------------------------------------------------------------


@pytest.mark.netns
def test_without_the_rule_a_pod_really_cannot_reach_itself_through_its_service() -> None:
    """web-0 is the only endpoint of Service self (198.18.100.10:80 → 198.19.0.10:8080) and connects
    to it: with kube-proxy's rules it gets its own answer; without the KUBE-SEP masquerade rule the
    connection fails — as the hairpin reading of each dump says."""
    require(netns_usable(), "needs root and ip netns")
    ip = "198.19.0.10"
    objects = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "lab", "name": "self"},
         "spec": {"type": "ClusterIP", "clusterIP": "198.18.100.10",
                  "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"namespace": "lab", "name": "self-x1", "labels": {"kubernetes.io/service-name": "self"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
         "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": "lab-node",
                        "targetRef": {"kind": "Pod", "namespace": "lab", "name": "web-0"}}]},
    ]
    snapshot = build_snapshot(objects)
    rules = iptables_rules(proxy_inputs(objects), node="lab-node", cluster_cidr=POD_CIDR)
    without = "\n".join(line for line in rules.splitlines() if f"-s {ip}/32" not in line) + "\n"
    assert without != rules + "\n"
    outcomes = {}
    with Lab() as lab:
        lab.add_pod("web-0", ip)
        lab.listen_tcp("web-0", ip, 8080, reply="web-0")
        for hairpin in (True, False):
            # The bridge CNI's hairpinMode: the bridge sends the translated packet back out of the
            # port it came in on only with it (the other half of SD807).
            lab.set_hairpin("web-0", hairpin)
            for name, text in (("with", rules), ("without", without)):
                lab.load_iptables(text)
                dump = NodeDump("lab-node", "iptables", iptables_save=lab.save_iptables())
                [path] = hairpins(load(dump), snapshot.services[0], [ip], [NODE_IP, POD_GATEWAY])
                answer = lab.connect_tcp("web-0", "198.18.100.10", 80, timeout=1.0)
                outcomes[(hairpin, name)] = (path.masqueraded, answer)
    assert outcomes[(True, "with")] == (True, "web-0")
    assert outcomes[(True, "without")][0] is False and outcomes[(True, "without")][1] != "web-0"
    assert outcomes[(False, "with")] == (True, "timeout")
