"""End to end on real sockets and a real DNS server: ``svcdoctor check --probe`` run inside a client
network namespace, against a node namespace with kube-proxy-style rules, "pod" namespaces with real
listeners and Debian's dnsmasq serving the zone the snapshot implies (one record broken on purpose
per scenario). Every address is in 198.18.0.0/15; nothing leaves the lab's namespaces.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from svcdoctor.dns.records import Record
from svcdoctor.snapshot import build_snapshot
from svcdoctor.testing.cluster import ClusterBuilder
from svcdoctor.testing.dnslab import DnsServer, kube_proxy_rules, zone_of
from svcdoctor.testing.netns import NODE_IP, Lab, netns_usable
from tests.conftest import ROOT, require

pytestmark = pytest.mark.netns

ZONE = "cluster.local"
DNS_IP, COREDNS_IP = "198.18.100.10", "198.19.0.53"
WEB_IP, API_IP, EDGE_IP, EDGE_NODE_PORT = "198.18.100.20", "198.18.100.30", "198.18.100.40", 30080
WEB_PODS = {"web-0": "198.19.0.10", "web-1": "198.19.0.11", "web-2": "198.19.0.12"}
API_POD_IP = "198.19.0.20"
CLIENT_IP, LAPTOP_IP = "198.18.0.2", "198.18.0.3"
CLIENT = "shop/client-5c7d9f8b4-q7x2m"


def build_cluster(coredns_state: str = "running") -> list[dict]:
    """The cluster the lab plays: kube-dns + CoreDNS, Services web and api in shop, a client Pod."""
    b = ClusterBuilder(service_cidr="198.18.100.0/24", pod_cidr="198.19.0.0/24")
    b.snapshot_info(context="lab")
    for namespace in ("default", "kube-system", "shop"):
        b.namespace(namespace)
    b.node("node-a", NODE_IP)
    b.kube_proxy()
    b.service("default", "kubernetes", None, [{"name": "https", "port": 443, "targetPort": 6443}],
              manage_endpoints=False, clusterIP="198.18.100.1", clusterIPs=["198.18.100.1"])
    dns_ports = [{"name": "dns", "containerPort": 53, "protocol": "UDP"}, {"name": "dns-tcp", "containerPort": 53}]
    b.pod("kube-system", "coredns-7db6d8ff4d-x2k9p", {"k8s-app": "kube-dns", "pod-template-hash": "7db6d8ff4d"},
          [b.container("coredns", "registry.k8s.io/coredns/coredns:v1.11.3", dns_ports)], node="node-a",
          ip=COREDNS_IP, state=coredns_state)
    b.service("kube-system", "kube-dns", {"k8s-app": "kube-dns"},
              [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53}],
              labels={"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}, clusterIP=DNS_IP, clusterIPs=[DNS_IP])
    http = [{"name": "http", "containerPort": 8080}]
    for index, ip in enumerate(WEB_PODS.values()):
        b.pod("shop", f"web-6f9c8b7d5-{'bcdfg'[index]}k2lp", {"app": "web"},
              [b.container("web", "example/web:1.4", http)], node="node-a", ip=ip)
    b.pod("shop", "api-74d8c6b9f-m4n8r", {"app": "api"}, [b.container("api", "example/api:3.2", http)],
          node="node-a", ip=API_POD_IP)
    b.pod("shop", CLIENT.split("/")[1], {"app": "client"}, [b.container("client", "curlimages/curl:8.10.1")],
          node="node-a", ip=CLIENT_IP)
    b.service("shop", "web", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": "http"}],
              clusterIP=WEB_IP, clusterIPs=[WEB_IP])
    b.service("shop", "api", {"app": "api"}, [{"name": "http", "port": 80, "targetPort": "http"}],
              clusterIP=API_IP, clusterIPs=[API_IP])
    b.service("shop", "edge", {"app": "api"}, [{"name": "http", "port": 80, "targetPort": "http",
                                                "nodePort": EDGE_NODE_PORT}],
              type="NodePort", clusterIP=EDGE_IP, clusterIPs=[EDGE_IP])
    return b.build()


@dataclass
class World:
    lab: Lab
    dns: DnsServer
    folder: Path

    def snapshot(self, objects: list[dict], name: str) -> Path:
        path = self.folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}, sort_keys=False))
        return path

    def check(self, role: str, service: str, snapshot: Path, *extra: str, method: str = "") -> dict:
        argv = ["env", f"PYTHONPATH={ROOT}", f"SVCDOCTOR_PROBE_METHOD={method}", sys.executable, "-m", "svcdoctor",
                "check", service, "-n", "shop", "--probe", "--probe-timeout", "1", "--snapshot", str(snapshot),
                "--probe-file-addresses", str(snapshot),
                "-o", "json", "--fail-on", "never", "--accept-unknown", *extra]
        result = self.lab.run(role, argv, check=False, timeout=60)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        report["stderr"] = result.stderr
        return report


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require(netns_usable(), "needs root and ip netns")
    require(shutil.which("dnsmasq") is not None, "needs dnsmasq (Debian package dnsmasq-base)")
    with Lab() as lab:
        lab.add_pod("coredns", COREDNS_IP)
        for role, ip in WEB_PODS.items():
            lab.add_pod(role, ip)
        lab.add_pod("api-0", API_POD_IP)
        lab.add_client("client", CLIENT_IP)
        lab.add_client("laptop", LAPTOP_IP)
        lab.listen_tcp("web-0", WEB_PODS["web-0"], 8080, reply="web-0")
        lab.listen_tcp("web-1", "127.0.0.1", 8080, reply="web-1")  # bound to localhost only
        lab.listen_tcp("web-2", WEB_PODS["web-2"], 8080, reply="web-2")
        lab.load_iptables("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 8080 -j DROP\nCOMMIT\n",
                          role="web-2")  # its traffic is dropped, as a NetworkPolicy or a broken CNI would
        lab.listen_tcp("api-0", API_POD_IP, 8080, reply="api-0")
        # ClusterIPs without a DNAT rule are forwarded to a next hop that never answers and vanish (as
        # beyond a real node's default route), after the filter rules have seen them.
        for command in (["ip", "link", "add", "sdsvc", "type", "veth", "peer", "name", "sdsvc-end"],
                        ["ip", "link", "set", "sdsvc", "up"], ["ip", "link", "set", "sdsvc-end", "up"],
                        ["ip", "neigh", "add", "198.18.99.1", "lladdr", "02:00:00:00:00:01", "dev", "sdsvc",
                         "nud", "permanent"],
                        ["ip", "route", "add", "198.18.100.0/24", "via", "198.18.99.1", "dev", "sdsvc", "onlink"]):
            lab.run("node", command)
        # A machine outside the cluster network: the node never forwards what it sends.
        lab.load_iptables(f"*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -s {LAPTOP_IP}/32 -j DROP\nCOMMIT\n")
        dns = DnsServer(lab, "coredns", COREDNS_IP)
        try:
            yield World(lab, dns, tmp_path_factory.mktemp("dnslab"))
        finally:
            dns.stop()


def ids(report: dict) -> list[str]:
    return [f["id"] for f in report["findings"]]


def serve(world: World, objects: list[dict], *, drop: set[str] = frozenset(),  # type: ignore[assignment]
          change: dict[str, str] | None = None, leave_out: tuple[str, ...] = (),
          leave_out_node_ports: tuple[str, ...] = ()) -> None:
    snapshot = build_snapshot(objects)
    records = []
    for record in zone_of(snapshot, ZONE):
        if any(record.name == name or record.name.endswith("." + name) for name in drop):
            continue  # the name and everything under it (its SRV records) are gone
        if change and record.name in change and record.type == "A":
            record = Record(record.name, "A", change[record.name])
        records.append(record)
    world.dns.restart(records)
    world.lab.load_iptables(kube_proxy_rules(snapshot, leave_out=leave_out, leave_out_node_ports=leave_out_node_ports))


@pytest.mark.parametrize("method", ["syn", "connect"])
def test_pods_refuse_drop_and_the_cluster_ip_has_no_rules(world: World, method: str) -> None:
    objects = build_cluster()
    serve(world, objects, leave_out=("shop/web",))
    report = world.check("client", "web", world.snapshot(objects, f"web-{method}"), "--from", CLIENT, method=method)
    found = ids(report)
    assert found[0] == "SD903", found  # the Pods answer, the ClusterIP does not: kube-proxy on node-a
    assert {"SD901", "SD902", "SD903", "SD906"} <= set(found)
    assert not {"SD701", "SD702", "SD703", "SD905"} & set(found)
    by_id = {f["id"]: f for f in report["findings"]}
    assert "web-6f9c8b7d5-ck2lp" in by_id["SD901"]["message"]  # web-1, bound to 127.0.0.1
    assert "web-6f9c8b7d5-dk2lp" in by_id["SD902"]["message"]  # web-2, dropped
    assert "node node-a" in by_id["SD903"]["message"]
    assert f"Pod {CLIENT} on node node-a" in by_id["SD906"]["message"]
    assert report["verdict"] == "unreachable"
    assert f"from {CLIENT}" in report["stderr"]


def test_missing_record_is_sd701(world: World) -> None:
    objects = build_cluster()
    serve(world, objects, drop={f"api.shop.svc.{ZONE}."})
    report = world.check("client", "api", world.snapshot(objects, "api-missing"), "--from", CLIENT)
    found = ids(report)
    assert found[0] == "SD701", found
    assert not {"SD702", "SD703", "SD901", "SD902", "SD903", "SD905"} & set(found)
    assert "NXDOMAIN" in report["findings"][0]["message"]
    assert report["verdict"] == "unreachable"


def test_wrong_record_is_sd702(world: World) -> None:
    objects = build_cluster()
    serve(world, objects, change={f"api.shop.svc.{ZONE}.": "198.18.100.99"})
    report = world.check("client", "api", world.snapshot(objects, "api-wrong"), "--from", CLIENT)
    found = ids(report)
    assert found[0] == "SD702", found
    assert "198.18.100.99" in report["findings"][0]["message"] and API_IP in report["findings"][0]["message"]
    assert not {"SD701", "SD703", "SD903"} & set(found)


def test_cluster_dns_without_ready_endpoints_is_sd703(world: World) -> None:
    objects = build_cluster(coredns_state="notready")
    serve(world, objects)  # kube-proxy REJECTs the kube-dns ClusterIP: it has no ready endpoint
    report = world.check("client", "api", world.snapshot(objects, "dns-down"), "--from", CLIENT)
    found = ids(report)
    assert found[0] == "SD703", found
    by_id = {f["id"]: f for f in report["findings"]}
    assert by_id["SD701"]["caused_by"] == "SD703"
    assert not {"SD901", "SD902", "SD903", "SD905"} & set(found)  # api itself answers on its ClusterIP


def test_node_port_without_rules_is_sd904_while_the_pods_answer(world: World) -> None:
    objects = build_cluster()
    serve(world, objects)
    healthy = world.check("client", "edge", world.snapshot(objects, "edge-ok"), "--from", CLIENT)
    assert not {"SD901", "SD902", "SD903", "SD904"} & set(ids(healthy)), ids(healthy)
    assert healthy["verdict"] == "ok"
    serve(world, objects, leave_out_node_ports=("shop/edge",))
    report = world.check("client", "edge", world.snapshot(objects, "edge-broken"), "--from", CLIENT)
    found = ids(report)
    assert found[0] == "SD904", found
    sd904 = report["findings"][0]
    assert f"NodePort {EDGE_NODE_PORT}" in sd904["message"] and "Node node-a" in sd904["message"]
    assert report["verdict"] == "degraded"  # inside the cluster the ClusterIP still works


def test_probes_from_outside_the_cluster_network_blame_nothing(world: World) -> None:
    objects = build_cluster()
    serve(world, objects)
    started = time.monotonic()
    report = world.check("laptop", "web", world.snapshot(objects, "laptop"))
    assert time.monotonic() - started < 20
    found = ids(report)
    assert "SD905" in found
    assert not {"SD701", "SD702", "SD901", "SD902", "SD903"} & set(found)
    assert report["verdict"] == "unknown"
    sd905 = next(f for f in report["findings"] if f["id"] == "SD905")
    assert LAPTOP_IP in sd905["message"] and "deploy/job.yaml" in " ".join(sd905["next"])


def test_probes_run_concurrently_within_the_budget(world: World) -> None:
    """64 probes to addresses that drop everything, 2 s each, finish in about 2 s (not 128 s)."""
    script = ("import asyncio, time, sys; sys.path.insert(0, sys.argv[1]);"
              "from svcdoctor.probe.tcp import connect_all;"
              "t = time.monotonic();"
              "r = asyncio.run(connect_all([('198.19.0.12', 8080)] * 32 + [('198.18.100.77', 80)] * 32, 2.0));"
              "print(time.monotonic() - t, set(x for x, _ in r))")
    objects = build_cluster()
    serve(world, objects)
    output = world.lab.run("client", [sys.executable, "-c", script, str(ROOT)], timeout=30).stdout.split(maxsplit=1)
    seconds = float(output[0])
    print(f"\n64 concurrent TCP probes, 2 s timeout, dropped targets in a netns: {seconds:.2f} s wall")
    assert "timeout" in output[1]
    assert 1.9 <= seconds < 4.0, seconds


def test_dns_command_compares_every_record_with_the_server(world: World) -> None:
    objects = build_cluster()
    snapshot = build_snapshot(objects)
    records = [r for r in zone_of(snapshot, ZONE) if r.type != "SRV" or "api.shop" not in r.name]
    world.dns.restart(records)  # the api Service's SRV record is missing
    world.lab.load_iptables(kube_proxy_rules(snapshot))
    path = world.snapshot(objects, "dns-command")
    result = world.lab.run("client", ["env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "svcdoctor", "dns", "api",
                                      "-n", "shop", "--probe", "--snapshot", str(path), "--probe-file-addresses",
                                      str(path), "-o", "json"], check=False)
    assert result.returncode == 1, result.stderr
    verdicts = {(r["name"], r["type"]): r["answer"] for r in json.loads(result.stdout)["records"]}
    assert verdicts[(f"api.shop.svc.{ZONE}.", "A")] == "ok"
    assert verdicts[("30.100.18.198.in-addr.arpa.", "PTR")] == "ok"
    assert verdicts[(f"_http._tcp.api.shop.svc.{ZONE}.", "SRV")].startswith("missing")
