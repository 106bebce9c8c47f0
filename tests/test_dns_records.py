"""The DNS record model against the specification summary's worked examples (the oracle), and the
pieces around it: the cluster domain read from the snapshot, and the client's search order."""

from __future__ import annotations

import re

import pytest

from svcdoctor.dns.client import (
    mentions,
    resolver_for_pod,
    search_order,
    service_named,
)
from svcdoctor.dns.domain import cluster_domain, corefile_forward_zones, corefile_serves_reverse
from svcdoctor.dns.records import Record, dashed, expected_records, reverse_name
from svcdoctor.snapshot import SnapshotInfo, build_snapshot
from tests.conftest import ORACLES, require_shared

ORACLE = ORACLES / "dns-spec-summary.md"


def service(namespace: str, name: str, cluster_ip: str, ports: list[dict], **spec: object) -> dict:
    body = {"clusterIP": cluster_ip, "ports": ports, **spec}
    if cluster_ip != "None" and "type" not in spec:
        body["clusterIPs"] = [cluster_ip]
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": namespace, "name": name}, "spec": body}


def endpoint_slice(namespace: str, name: str, endpoints: list[dict], ports: list[dict]) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"namespace": namespace, "name": f"{name}-abcde",
                         "labels": {"kubernetes.io/service-name": name}},
            "endpoints": endpoints, "ports": ports}


def oracle_lines(section: str) -> list[tuple[str, str, str]]:
    """(name, type, data) from one code block of the oracle's worked example."""
    require_shared("oracles/dns-spec-summary.md")
    text = ORACLE.read_text()
    blocks = re.findall(r"```\n(.*?)```", text.split("## Worked example", 1)[1], re.S)
    block = next(b for b in blocks if section in b)
    rows = []
    for line in block.splitlines():
        if line.startswith("("):
            continue  # a remark such as "(no SRV for the unnamed 443 port)"
        parts = re.sub(r"\s+\(.*\)$", "", line).split()
        if len(parts) >= 3 and parts[1] in ("A", "AAAA", "SRV", "PTR", "CNAME"):
            data = parts[-1] if parts[1] != "SRV" else f"{parts[-2]} {parts[-1]}"
            rows.append((parts[0], parts[1], data))
    return rows


def as_rows(records: list[Record]) -> set[tuple[str, str, str]]:
    return {(r.name, r.type, r.data) for r in records}


def test_cluster_ip_service_matches_the_worked_example() -> None:
    web = service("shop", "web", "10.96.12.34", [{"name": "http", "port": 80, "protocol": "TCP"},
                                                 {"port": 443, "protocol": "TCP"}])
    snapshot = build_snapshot([web])
    got = as_rows(expected_records(snapshot, web, "cluster.local"))
    assert got == set(oracle_lines("web.shop.svc.cluster.local."))
    assert not any("443" in data for _, _, data in got)  # unnamed ports get no SRV


def test_headless_service_matches_the_worked_example() -> None:
    db = service("shop", "db", "None", [{"name": "pg", "port": 5432, "protocol": "TCP"}])
    slice_ = endpoint_slice("shop", "db", [
        {"addresses": ["10.1.0.5"], "hostname": "db-0", "conditions": {"ready": True}},
        {"addresses": ["10.1.0.6"], "conditions": {"ready": True}},
        {"addresses": ["10.1.0.7"], "conditions": {"ready": False}},
    ], [{"name": "pg", "port": 5432, "protocol": "TCP"}])
    snapshot = build_snapshot([db, slice_])
    got = as_rows(expected_records(snapshot, db, "cluster.local"))
    wanted = {(n.replace("<id>", "10-1-0-6"), t, d.replace("<id>", "10-1-0-6"))
              for n, t, d in oracle_lines("db.shop.svc.cluster.local.")}
    assert got == wanted
    assert not any("10.1.0.7" in row[2] for row in got)


def test_publish_not_ready_addresses_lists_every_endpoint() -> None:
    db = service("shop", "db", "None", [{"name": "pg", "port": 5432}], publishNotReadyAddresses=True)
    slice_ = endpoint_slice("shop", "db", [{"addresses": ["10.1.0.7"], "conditions": {"ready": False}}],
                            [{"name": "pg", "port": 5432, "protocol": "TCP"}])
    got = as_rows(expected_records(build_snapshot([db, slice_]), db, "cluster.local"))
    assert ("db.shop.svc.cluster.local.", "A", "10.1.0.7") in got


def test_stateful_set_pods_get_their_own_names() -> None:
    from svcdoctor.testing.cluster import ClusterBuilder

    b = ClusterBuilder()
    b.namespace("data")
    b.node("node-a", "172.18.0.2")
    container = b.container("pg", "postgres:16", [{"name": "pg", "containerPort": 5432}])
    b.stateful_set("data", "pg", {"app": "pg"}, [container], service_name="pg", replicas=2)
    pg = b.service("data", "pg", {"app": "pg"}, [{"name": "pg", "port": 5432}], headless=True)
    snapshot = build_snapshot(b.build())
    records = expected_records(snapshot, snapshot.service("data", "pg") or pg, "cluster.local")
    names = {r.name for r in records if r.type == "A"}
    assert {"pg-0.pg.data.svc.cluster.local.", "pg-1.pg.data.svc.cluster.local.",
            "pg.data.svc.cluster.local."} == names
    srv = {r.data.split()[1] for r in records if r.type == "SRV"}
    assert srv == {"pg-0.pg.data.svc.cluster.local.", "pg-1.pg.data.svc.cluster.local."}


def test_external_name_is_a_cname_and_nothing_else() -> None:
    ext = service("shop", "payments", "", [], type="ExternalName", externalName="Pay.Example.COM")
    del ext["spec"]["clusterIP"]
    assert expected_records(build_snapshot([ext]), ext, "cluster.local") == [
        Record("payments.shop.svc.cluster.local.", "CNAME", "pay.example.com.")]


def test_dual_stack_and_ipv6_names() -> None:
    web = service("shop", "web", "10.96.0.9", [{"name": "http", "port": 80}])
    web["spec"]["clusterIPs"] = ["10.96.0.9", "fd00:10:96::9"]
    rows = as_rows(expected_records(build_snapshot([web]), web, "k8s.internal"))
    assert ("web.shop.svc.k8s.internal.", "AAAA", "fd00:10:96::9") in rows
    assert ("9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.", "PTR",
            "web.shop.svc.k8s.internal.") in rows
    assert reverse_name("10.96.12.34") == "34.12.96.10.in-addr.arpa."
    assert dashed("fd00::1") == "fd00--1" and dashed("::1") == "0--1" and dashed("fd00::") == "fd00--0"


COREFILE = """.:53 {
    errors
    health { lameduck 5s }
    ready
    kubernetes k8s.example.internal in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    forward . /etc/resolv.conf
}
"""


def test_cluster_domain_comes_from_the_snapshot_first() -> None:
    corefile = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "kube-system", "name": "coredns"},
                "data": {"Corefile": COREFILE}}
    kubelet = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "kube-system",
                                                                     "name": "kubelet-config"},
               "data": {"kubelet": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                                   "clusterDomain: corp.local\nclusterDNS: [10.96.0.10]\n"}}
    assert corefile_forward_zones(COREFILE) == ["k8s.example.internal"] and corefile_serves_reverse(COREFILE)
    assert cluster_domain(build_snapshot([corefile, kubelet]), "cluster.local").domain == "k8s.example.internal"
    assert cluster_domain(build_snapshot([kubelet]), "cluster.local").domain == "corp.local"
    assert cluster_domain(build_snapshot([]), "other.zone").domain == "other.zone"
    from svcdoctor.snapshot import Snapshot

    recorded = Snapshot([corefile], info=SnapshotInfo(cluster_domain="rec.zone"))
    assert cluster_domain(recorded, "cluster.local").domain == "rec.zone"


def pod(namespace: str = "web", **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": namespace, "name": "client"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


@pytest.mark.parametrize(("spec", "policy", "cluster"), [
    ({}, "ClusterFirst", True),
    ({"dnsPolicy": "Default"}, "Default", False),
    ({"hostNetwork": True}, "Default", False),
    ({"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"}, "ClusterFirst", True),
    ({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1"]}}, "None", False),
    ({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.96.0.10"], "searches": ["web.svc.cluster.local"]}},
     "None", True),
])
def test_kubelet_dns_policies(spec: dict, policy: str, cluster: bool) -> None:
    config = resolver_for_pod(pod(**spec), ["10.96.0.10"], "cluster.local")
    assert (config.policy, config.uses_cluster_dns) == (policy, cluster)


def test_search_order_is_glibc_order() -> None:
    config = resolver_for_pod(pod(), ["10.96.0.10"], "cluster.local")
    assert search_order("backend", config) == [
        "backend.web.svc.cluster.local.", "backend.svc.cluster.local.", "backend.cluster.local.", "backend."]
    assert search_order("backend.shop.svc.cluster.local.", config) == ["backend.shop.svc.cluster.local."]
    custom = resolver_for_pod(pod(dnsConfig={"options": [{"name": "ndots", "value": "2"}]}), ["10.96.0.10"],
                              "cluster.local")
    assert search_order("a.b.c", custom)[0] == "a.b.c."
    assert search_order("a.b", custom)[-1] == "a.b."


def test_which_service_a_name_means() -> None:
    assert service_named("backend", "web", "cluster.local") == ("web", "backend")
    assert service_named("backend.shop", "web", "cluster.local") == ("shop", "backend")
    assert service_named("backend.shop.svc.cluster.local.", "", "cluster.local") == ("shop", "backend")
    assert service_named("db-0.db.shop.svc.cluster.local", "", "cluster.local") is None


def test_short_name_mentions_in_a_pod_spec() -> None:
    client = pod(containers=[{"name": "c", "image": "x", "env": [{"name": "URL", "value": "http://backend:8080/x"}],
                              "args": ["--upstream=backend.shop:80", "--peer", "backend-v2"]}])
    assert [field for field, _ in mentions(client, "backend")] == ["spec.containers[0].env[0].value"]
