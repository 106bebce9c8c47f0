"""Probes go only where the cluster is: never to this machine, link-local or metadata addresses."""

from __future__ import annotations

import json
from pathlib import Path

from svcdoctor.probe.bounds import bounds_of, refusal
from svcdoctor.probe.plan import plan
from svcdoctor.snapshot import build_snapshot
from svcdoctor.testing.cluster import ClusterBuilder
from tests.conftest import run_cli


def crafted(dns_ip: str = "10.96.0.10") -> list[dict]:
    """A namespace editor's hand-made EndpointSlice pointing at this machine and its cloud."""
    b = ClusterBuilder()
    b.namespace("shop")
    b.namespace("kube-system")
    b.node("node-a", "127.0.0.1", pod_cidr="10.244.0.0/24")
    b.service("kube-system", "kube-dns", {"k8s-app": "kube-dns"}, [{"name": "dns", "port": 53, "protocol": "UDP"}],
              clusterIP=dns_ip, clusterIPs=[dns_ip])
    b.service("shop", "web", None, [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}],
              type="LoadBalancer", manage_endpoints=False)
    b.objects[-1]["status"] = {"loadBalancer": {"ingress": [{"ip": "169.254.169.254"}, {"ip": "203.0.113.9"}]}}
    b.endpoint_slice("shop", "web-hand-made", ["127.0.0.1", "169.254.169.254", "10.0.0.5", "10.244.0.7",
                                                "fe80::1", "0.0.0.0"],
                     [{"name": "http", "port": 8080}], service_name="web")
    return b.build()


def test_plan_leaves_out_loopback_link_local_metadata_and_foreign_pod_addresses() -> None:
    result = plan(build_snapshot(crafted()), "shop", "web", 64)
    planned = {(t.ip, t.port) for t in result.targets}
    assert ("10.244.0.7", 8080) in planned and ("203.0.113.9", 80) in planned
    for address in ("127.0.0.1", "169.254.169.254", "10.0.0.5", "fe80::1", "0.0.0.0"):
        assert not [t for t in result.targets if t.ip == address], address
        assert [line for line in result.refused if f" {address}:" in line], address
    assert any("cloud metadata" in line for line in result.refused)
    assert any("outside every node's podCIDR" in line for line in result.refused)


def test_the_cluster_dns_addresses_kubelet_hands_pods_stay_probeable() -> None:
    node_local = bounds_of(build_snapshot(crafted(dns_ip="169.254.20.10")))
    assert refusal("169.254.20.10", 53, pod=False, bounds=node_local) == ""
    assert refusal("169.254.20.10", 80, pod=False, bounds=node_local) == "a link-local address"
    metadata_dns = bounds_of(build_snapshot(crafted(dns_ip="169.254.169.254")))
    assert refusal("169.254.169.254", 53, pod=False, bounds=metadata_dns) == "a cloud metadata address"
    looped = bounds_of(build_snapshot(crafted(dns_ip="127.0.0.53")))
    assert refusal("127.0.0.53", 53, pod=False, bounds=looped).startswith("a loopback")


def test_pod_addresses_are_not_limited_when_no_node_states_its_pod_cidr() -> None:
    objects = [o for o in crafted() if o.get("kind") != "Node"]
    bounds = bounds_of(build_snapshot(objects))
    assert refusal("10.0.0.5", 8080, pod=True, bounds=bounds) == ""


def test_check_probe_sends_nothing_to_refused_addresses(tmp_path: Path) -> None:
    """Every address of this file is refused (the DNS Service sits on the metadata address): no packet leaves."""
    objects = crafted(dns_ip="169.254.169.254")
    for obj in objects:
        if obj.get("kind") == "Service" and obj["metadata"]["name"] == "web":
            obj["status"] = {}
            obj["spec"].update({"clusterIP": "127.0.0.9", "clusterIPs": ["127.0.0.9"]})
        if obj.get("kind") == "EndpointSlice":
            obj["endpoints"] = [e for e in obj.get("endpoints") or [] if e["addresses"] != ["10.244.0.7"]]
    path = tmp_path / "sent.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    result = run_cli("check", "web", "-n", "shop", "--snapshot", str(path), "--probe", "--probe-file-addresses",
                     str(path), "--probe-timeout", "0.2", "-o", "json", "--fail-on", "never")
    assert result.exit_code == 0, result.stderr
    assert "probing 0 address(es)" in result.stderr
    assert "not probed: " in result.stderr and "169.254.169.254" in result.stderr and "127.0.0.9" in result.stderr
    assert "no cluster DNS Service in the snapshot" in result.stderr
