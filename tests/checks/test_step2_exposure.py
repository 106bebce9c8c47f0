"""SD204, SD205, SD207, SD208, SD211: node ports, load balancers, traffic policies, topology."""

from __future__ import annotations

from svcdoctor.checks.interface import Options
from svcdoctor.findings import Client, Severity
from svcdoctor.testing.cluster import ClusterBuilder
from tests.checks.step2 import HTTP, cluster, diagnose, evidence_values, found, only, snapshot, status

# -- SD204 node ports ----------------------------------------------------------------------------


def _node_port_cluster(*node_ports: tuple[str, int, str]) -> ClusterBuilder:
    b = cluster()
    b.deployment("shop", "web", {"app": "web"}, [b.container("web", "web:1", HTTP)])
    for name, node_port, protocol in node_ports:
        b.service("shop", name, {"app": "web"},
                  [{"name": "http", "port": 80, "targetPort": "http", "nodePort": node_port, "protocol": protocol}],
                  type="NodePort")
    return b


def test_sd204_out_of_range_is_an_error_for_manifests_and_a_note_for_a_recorded_cluster() -> None:
    b = _node_port_cluster(("web", 8080, "TCP"))
    static = diagnose(snapshot(b, static=True), "web")
    finding = only(static, "SD204")
    assert finding.severity is Severity.ERROR and static.verdict == "unreachable"
    assert "30000-32767" in finding.message and finding.subject_field == "spec.ports[0].nodePort"
    live = diagnose(snapshot(_node_port_cluster(("web", 8080, "TCP"))), "web")
    assert only(live, "SD204").severity is Severity.INFO and live.verdict == "ok"


def test_sd204_honours_the_configured_range() -> None:
    b = _node_port_cluster(("web", 8080, "TCP"))
    report = diagnose(snapshot(b, static=True), "web", options=Options(node_port_range=(80, 32767)))
    assert not found(report, "SD204")
    report = diagnose(snapshot(_node_port_cluster(("web", 30100, "TCP")), static=True), "web",
                      options=Options(node_port_range=(31000, 31999)))
    assert "31000-31999" in only(report, "SD204").message


def test_sd204_same_node_port_twice_per_protocol() -> None:
    snap = snapshot(_node_port_cluster(("web", 30100, "TCP"), ("web-copy", 30100, "TCP"), ("web-udp", 30100, "UDP")),
                    static=True)
    first = only(diagnose(snap, "web"), "SD204")
    assert "Service shop/web-copy port http (80/TCP)" in first.message
    assert "web-udp" not in first.message  # the same number for UDP is another port
    assert only(diagnose(snap, "web-copy"), "SD204").severity is Severity.ERROR
    assert not found(diagnose(snap, "web-udp"), "SD204")


def test_sd204_silent_without_node_port_or_for_cluster_ip() -> None:
    b = cluster()
    b.deployment("shop", "web", {"app": "web"}, [b.container("web", "web:1", HTTP)])
    service = b.service("shop", "web", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": "http"}],
                        type="NodePort")
    del service["spec"]["ports"][0]["nodePort"]  # as written in a manifest: the API server picks one
    b.service("shop", "internal", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    snap = snapshot(b, static=True)
    assert not found(diagnose(snap, "web"), "SD204")
    assert status(diagnose(snap, "internal"), "SD204") == "skipped"


# -- SD205 load balancer -----------------------------------------------------------------------------


def _load_balancer(now: str, created_minutes_ago: float, address: str | None = None) -> ClusterBuilder:
    b = ClusterBuilder(now=now)
    b.snapshot_info()
    b.namespace("shop")
    b.node("node-a", "172.18.0.2")
    b.deployment("shop", "web", {"app": "web"}, [b.container("web", "web:1", HTTP)])
    service = b.service("shop", "web", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": "http"}],
                        type="LoadBalancer", load_balancer_ip=address)
    service["metadata"]["creationTimestamp"] = b.time(created_minutes_ago)
    return b


def test_sd205_pending_with_events_measures_age_from_the_snapshot() -> None:
    b = _load_balancer("2031-03-01T12:00:00Z", 60 * 24 * 3)  # a snapshot years after the wall clock's today
    service = next(o for o in b.objects if o["kind"] == "Service")
    b.event(service, "SyncLoadBalancerFailed", "Error syncing load balancer: no available IPs in pool",
            component="service-controller", count=40, series=True)
    report = diagnose(snapshot(b), "web")
    finding = only(report, "SD205")
    assert finding.severity is Severity.WARNING and report.verdict == "degraded"
    assert "for 3 days" in finding.message
    assert "SyncLoadBalancerFailed" in finding.message
    assert "SyncLoadBalancerFailed" in evidence_values(finding)
    assert any("(×40)" in e.note for e in finding.evidence)  # the events.k8s.io series count


def test_sd205_fresh_load_balancer_is_only_a_note_and_an_address_is_fine() -> None:
    fresh = diagnose(snapshot(_load_balancer("2026-11-20T10:00:00Z", 2)), "web")
    assert only(fresh, "SD205").severity is Severity.INFO and fresh.verdict == "ok"
    assert not found(diagnose(snapshot(_load_balancer("2026-11-20T10:00:00Z", 600, "203.0.113.7")), "web"), "SD205")


def test_sd205_needs_runtime_state() -> None:
    report = diagnose(snapshot(_load_balancer("2026-11-20T10:00:00Z", 600), static=True), "web")
    assert status(report, "SD205") == "skipped" and not found(report, "SD205")


# -- SD207 externalTrafficPolicy: Local ---------------------------------------------------------


def _local(service_type: str = "NodePort", replicas_on: tuple[str, ...] = ("node-a",), nodes: int = 3,
           **spec: object) -> ClusterBuilder:
    b = cluster(nodes)
    b.deployment("shop", "edge", {"app": "edge"}, [b.container("edge", "edge:1", HTTP)],
                 replicas=len(replicas_on), nodes=list(replicas_on))
    b.service("shop", "edge", {"app": "edge"}, [{"name": "http", "port": 80, "targetPort": "http"}],
              type=service_type, externalTrafficPolicy="Local", **spec)
    return b


def test_sd207_lists_the_nodes_that_drop_node_port_traffic() -> None:
    report = diagnose(snapshot(_local()), "edge")
    finding = only(report, "SD207")
    assert finding.severity is Severity.WARNING and report.verdict == "degraded"
    assert "2 of 3 Ready nodes (node-b, node-c)" in finding.message
    assert ["node-a"] in evidence_values(finding)


def test_sd207_load_balancer_health_check_makes_it_a_note() -> None:
    report = diagnose(snapshot(_local("LoadBalancer", healthCheckNodePort=32100)), "edge")
    finding = only(report, "SD207")
    assert finding.severity is Severity.INFO and "32100" in finding.message


def test_sd207_silent_with_a_pod_on_every_ready_node_and_skipped_for_cluster_policy() -> None:
    b = _local(replicas_on=("node-a", "node-b"), nodes=2)
    b.node("node-down", "172.18.0.9", ready=False)
    assert not found(diagnose(snapshot(b), "edge"), "SD207")
    b2 = cluster()
    b2.deployment("shop", "edge", {"app": "edge"}, [b2.container("edge", "edge:1", HTTP)])
    b2.service("shop", "edge", {"app": "edge"}, [{"name": "http", "port": 80, "targetPort": "http"}], type="NodePort")
    assert status(diagnose(snapshot(b2), "edge"), "SD207") == "skipped"


def test_sd207_without_node_objects_is_not_checked_never_passed() -> None:
    objects = [o for o in _local().build() if o["kind"] != "Node"]
    report = diagnose(snapshot(cluster(), objects=objects), "edge")
    # No Node objects: none exist, or they were not recorded; nobody asked for more, so not unknown.
    assert status(report, "SD207") == "not-checked"
    assert next(step for step in report.steps if step.step == 2).status == "partial"


def test_sd207_leaves_no_ready_endpoints_anywhere_to_step_5() -> None:
    b = cluster(3)
    b.deployment("shop", "edge", {"app": "edge"}, [b.container("edge", "edge:1", HTTP)], states=["notready"],
                 replicas=1)
    b.service("shop", "edge", {"app": "edge"}, [{"name": "http", "port": 80, "targetPort": "http"}],
              type="NodePort", externalTrafficPolicy="Local")
    report = diagnose(snapshot(b), "edge")
    ids = [f.id for f in report.findings]
    # Step 5 reports it (and step 4 explains it): SD207 stays out of the way.
    assert status(report, "SD207") == "skipped" and "SD207" not in ids
    assert "SD502" in ids and ids[0] in ("SD402", "SD502")


# -- SD208 internalTrafficPolicy: Local ---------------------------------------------------------


def _internal_local() -> ClusterBuilder:
    b = cluster(3)
    b.deployment("shop", "cache", {"app": "cache"}, [b.container("c", "c:1", HTTP)], replicas=1, nodes=["node-a"])
    b.pod("shop", "client-b", {"app": "client"}, [b.container("cl", "cl:1")], node="node-b")
    b.pod("shop", "client-a", {"app": "client"}, [b.container("cl", "cl:1")], node="node-a")
    b.service("shop", "cache", {"app": "cache"}, [{"name": "http", "port": 80, "targetPort": "http"}],
              internalTrafficPolicy="Local")
    return b


def test_sd208_client_on_a_node_without_endpoint_is_unreachable() -> None:
    snap = snapshot(_internal_local())
    report = diagnose(snap, "cache", client=Client("pod", "shop", "client-b"))
    finding = only(report, "SD208")
    assert finding.severity is Severity.ERROR and report.verdict == "unreachable"
    assert finding.node == "node-b" and "client Pod shop/client-b" in finding.message
    assert "node-a" in finding.message
    happy = diagnose(snap, "cache", client=Client("pod", "shop", "client-a"))
    assert not found(happy, "SD208") and happy.verdict == "ok"
    node_client = diagnose(snap, "cache", client=Client("node", name="node-c"))
    assert only(node_client, "SD208").node == "node-c"


def test_sd208_without_client_lists_the_nodes() -> None:
    report = diagnose(snapshot(_internal_local()), "cache")
    finding = only(report, "SD208")
    assert finding.severity is Severity.WARNING and report.verdict == "degraded"
    assert "2 of 3 Ready nodes" in finding.message and "node-b, node-c" in finding.message


# -- SD211 topology ------------------------------------------------------------------------------


def _topology(hints: bool, nodes_of_pods: tuple[str, ...] = ("node-a", "node-b"), **extra: object) -> list[dict]:
    b = cluster(3)
    b.deployment("shop", "search", {"app": "search"}, [b.container("s", "s:1", HTTP)],
                 replicas=len(nodes_of_pods), nodes=list(nodes_of_pods))
    service = b.service("shop", "search", {"app": "search"}, [{"name": "http", "port": 80, "targetPort": "http"}],
                        **extra)
    if "trafficDistribution" not in extra:
        service["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
    objects = b.build()
    if hints:
        b.add_zone_hints("shop", "search")
    return objects


def test_sd211_zone_without_hinted_endpoint_is_a_note() -> None:
    report = diagnose(snapshot(cluster(), objects=_topology(True, trafficDistribution="PreferClose")), "search")
    finding = only(report, "SD211")
    assert finding.severity is Severity.INFO and report.verdict == "ok"
    assert "zone-c (1 node: node-c)" in finding.message
    assert ["zone-a", "zone-b"] in evidence_values(finding)


def test_sd211_missing_hints_and_full_coverage() -> None:
    no_hints = only(diagnose(snapshot(cluster(), objects=_topology(False)), "search"), "SD211")
    assert "none of the ready endpoints carry zone hints" in no_hints.message
    covered = _topology(True, ("node-a", "node-b", "node-c"), trafficDistribution="PreferClose")
    assert not found(diagnose(snapshot(cluster(), objects=covered), "search"), "SD211")


def test_sd211_skipped_when_not_requested_and_noted_with_internal_local() -> None:
    plain = cluster()
    plain.deployment("shop", "search", {"app": "search"}, [plain.container("s", "s:1", HTTP)])
    plain.service("shop", "search", {"app": "search"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    assert status(diagnose(snapshot(plain), "search"), "SD211") == "skipped"
    both = _topology(True, ("node-a", "node-b", "node-c"), trafficDistribution="PreferClose",
                     internalTrafficPolicy="Local")
    assert "ignores the zone hints" in only(diagnose(snapshot(cluster(), objects=both), "search"), "SD211").message


def test_sd211_the_legacy_annotation_takes_precedence() -> None:
    objects = _topology(False)
    service = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "search")
    service["metadata"]["annotations"]["service.kubernetes.io/topology-aware-hints"] = "Disabled"
    assert status(diagnose(snapshot(cluster(), objects=objects), "search"), "SD211") == "skipped"
    service["metadata"]["annotations"] = {"service.kubernetes.io/topology-aware-hints": "auto"}
    assert found(diagnose(snapshot(cluster(), objects=objects), "search"), "SD211")
