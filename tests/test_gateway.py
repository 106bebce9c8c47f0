"""Gateway API (SD214): a known-good app and the rules one by one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from svcdoctor import gateway
from svcdoctor.snapshot import build_snapshot
from svcdoctor.testing.cluster import ClusterBuilder
from tests.conftest import run_cli

ENVOY_GATEWAY = (Path(__file__).resolve().parents[1] / ".." / "shared" / "realworld-dev" / "manifests"
                 / "envoy-gateway-http-routing")


@pytest.mark.parametrize("service", ["example-svc", "foo-svc", "bar-svc", "bar-canary-svc"])
def test_envoy_gateway_http_routing_is_healthy(service: str) -> None:
    """Envoy Gateway's published example (v1.9.0): every routed Service, no error or warning."""
    report = run_cli("check", service, "--manifests", str(ENVOY_GATEWAY), "-o", "json").json()
    assert report["verdict"] == "ok"
    assert [f["id"] for f in report["findings"] if f["severity"] in ("error", "warning")] == []


def world(route_spec: dict[str, Any], *, listeners: list[dict[str, Any]] | None = None,
          route_namespace: str = "shop", grants: tuple[dict[str, Any], ...] = ()) -> list[dict[str, Any]]:
    builder = ClusterBuilder()
    # Recorded as `record` writes it: grants were listed, so none in shop means none exist.
    builder.add({"apiVersion": "svcdoctor.dev/v1", "kind": "SnapshotInfo", "recorded": [{"kind": "ReferenceGrant"}]})
    builder.namespace("shop", {"team": "shop"})
    builder.namespace("edge")
    builder.service("shop", "cart", {"app": "cart"}, [{"name": "http", "port": 80, "targetPort": 8080}])
    builder.resource("gateway.networking.k8s.io/v1", "Gateway", "edge", "public", {
        "gatewayClassName": "eg", "listeners": listeners or [
            {"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "All"}}}]})
    builder.resource("gateway.networking.k8s.io/v1", "HTTPRoute", route_namespace, "cart", route_spec)
    for index, grant in enumerate(grants):
        builder.resource("gateway.networking.k8s.io/v1beta1", "ReferenceGrant", "shop", f"grant-{index}", grant)
    return builder.build()


def reasons(objects: list[dict[str, Any]]) -> list[str]:
    reports = gateway.route_reports(build_snapshot(objects), "shop", "cart")
    return [p.reason for report in reports for p in report.problems]


PARENT = {"name": "public", "namespace": "edge"}


def test_port_must_be_a_service_port() -> None:
    assert reasons(world({"parentRefs": [PARENT], "rules": [{"backendRefs": [{"name": "cart", "port": 80}]}]})) == []
    assert reasons(world({"parentRefs": [PARENT], "rules": [{"backendRefs": [{"name": "cart", "port": 8080}]}]})) == [
        "NoSuchPort"]
    assert reasons(world({"parentRefs": [PARENT], "rules": [{"backendRefs": [{"name": "cart"}]}]})) == ["MissingPort"]


def test_reference_grant_must_match_group_kind_namespace_and_name() -> None:
    route = {"parentRefs": [PARENT], "rules": [{"backendRefs": [{"name": "cart", "namespace": "shop", "port": 80}]}]}
    good = {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "edge"}],
            "to": [{"group": "", "kind": "Service", "name": "cart"}]}
    assert reasons(world(route, route_namespace="edge")) == ["RefNotPermitted"]
    assert reasons(world(route, route_namespace="edge", grants=(good,))) == []
    every_service = {**good, "to": [{"group": "", "kind": "Service"}]}
    assert reasons(world(route, route_namespace="edge", grants=(every_service,))) == []
    for broken in ({**good, "to": [{"group": "", "kind": "Service", "name": "other"}]},
                   {**good, "from": [{"group": "gateway.networking.k8s.io", "kind": "GRPCRoute", "namespace": "edge"}]},
                   {**good, "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "x"}]}):
        assert reasons(world(route, route_namespace="edge", grants=(broken,))) == ["RefNotPermitted"]


def test_listener_namespace_kind_hostname_and_section() -> None:
    base = {"parentRefs": [PARENT], "rules": [{"backendRefs": [{"name": "cart", "port": 80}]}]}
    same = [{"name": "http", "protocol": "HTTP", "port": 80}]
    assert reasons(world(base, listeners=same)) == ["NotAllowedByListeners"]
    tls_only = [{"name": "tls", "protocol": "TLS", "port": 443, "allowedRoutes": {"namespaces": {"from": "All"}}}]
    assert reasons(world(base, listeners=tls_only)) == ["NotAllowedByListeners"]
    selector = [{"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {
        "from": "Selector", "selector": {"matchLabels": {"team": "shop"}}}}}]
    assert reasons(world(base, listeners=selector)) == []
    wildcard = [{"name": "http", "protocol": "HTTP", "port": 80, "hostname": "*.example.com",
                 "allowedRoutes": {"namespaces": {"from": "All"}}}]
    assert reasons(world({**base, "hostnames": ["cart.example.com"]}, listeners=wildcard)) == []
    assert reasons(world({**base, "hostnames": ["example.com"]}, listeners=wildcard)) == ["NoMatchingListenerHostname"]
    assert reasons(world({**base, "parentRefs": [{**PARENT, "sectionName": "https"}]})) == ["NoMatchingParent"]
    assert reasons(world({**base, "parentRefs": [{"name": "missing", "namespace": "edge"}]})) == ["NoMatchingParent"]


@pytest.mark.parametrize("parents", [[{"kind": "ListenerSet", "group": "gateway.networking.k8s.io", "name": "team"}],
                                     [{"kind": "XListenerSet", "group": "gateway.networking.x-k8s.io", "name": "team"},
                                      PARENT]])
def test_a_listener_set_parent_is_said_not_evaluated(tmp_path: Path, parents: list[dict[str, Any]]) -> None:
    objects = world({"parentRefs": parents, "rules": [{"backendRefs": [{"name": "cart", "port": 80}]}]})
    path = tmp_path / "cluster.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    report = run_cli("check", "cart", "-n", "shop", "--snapshot", str(path), "-o", "json").json()
    step = next(step for step in report["steps"] if step["step"] == 2)
    assert step["status"] == "partial"
    assert any(item["what"] == f"not evaluated: ListenerSet parents (HTTPRoute shop/cart → {parents[0]['kind']} "
               "shop/team)" and item["checks"] == ["SD214"] for item in step["missing"]), step
    assert [f for f in report["findings"] if f["id"] == "SD214"] == []


def test_reported_status_is_read_and_staleness_said() -> None:
    objects = world({"parentRefs": [PARENT], "rules": [{"backendRefs": [{"name": "cart", "port": 80}]}]})
    route = next(o for o in objects if o["kind"] == "HTTPRoute")
    route["metadata"]["generation"] = 3
    route["status"] = {"parents": [{"controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
                                    "parentRef": PARENT, "conditions": [
                                        {"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound",
                                         "message": "Service shop/cart not found", "observedGeneration": 2}]}]}
    problems = [p for r in gateway.route_reports(build_snapshot(objects), "shop", "cart") for p in r.problems]
    assert [(p.reason, p.reported) for p in problems] == [("BackendNotFound", True)]
    assert "has not processed the latest change" in problems[0].message


def test_data_plane_pods_by_implementation_labels() -> None:
    builder = ClusterBuilder()
    builder.namespace("edge")
    builder.namespace("envoy-gateway-system")
    container = [builder.container("envoy", "envoyproxy/envoy:distroless-v1.33.0")]
    builder.pod("envoy-gateway-system", "envoy-edge-public-5d7f", {
        "gateway.envoyproxy.io/owning-gateway-name": "public",
        "gateway.envoyproxy.io/owning-gateway-namespace": "edge"}, container)
    builder.pod("envoy-gateway-system", "envoy-other-public-9c2a", {
        "gateway.envoyproxy.io/owning-gateway-name": "public",
        "gateway.envoyproxy.io/owning-gateway-namespace": "other"}, container)
    builder.pod("edge", "public-istio-7f9", {"gateway.networking.k8s.io/gateway-name": "public"}, container)
    snapshot = build_snapshot(builder.build())
    assert sorted(p["metadata"]["name"] for p in gateway.data_plane_pods(snapshot, "edge", "public")) == [
        "envoy-edge-public-5d7f", "public-istio-7f9"]
    assert gateway.data_plane_pods(snapshot, "edge", "private") == []


def gateway_cluster(policy_admits_gateway: bool) -> list[dict[str, Any]]:
    """Envoy Gateway's data plane in envoy-gateway-system in front of shop/cart, behind a NetworkPolicy."""
    builder = ClusterBuilder()
    builder.node("node-a", "172.18.0.2")
    for namespace in ("shop", "edge", "envoy-gateway-system"):
        builder.namespace(namespace)
    http = [{"name": "http", "containerPort": 8080}]
    builder.deployment("shop", "cart", {"app": "cart"}, [builder.container("cart", "example/cart:4.2", http)])
    builder.service("shop", "cart", {"app": "cart"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    builder.deployment("envoy-gateway-system", "envoy-edge-public-2c7e", {"app.kubernetes.io/name": "envoy"},
                       [builder.container("envoy", "envoyproxy/envoy:distroless-v1.33.0")], replicas=1,
                       template_labels={"app.kubernetes.io/name": "envoy",
                                        "gateway.envoyproxy.io/owning-gateway-name": "public",
                                        "gateway.envoyproxy.io/owning-gateway-namespace": "edge"})
    builder.resource("gateway.networking.k8s.io/v1", "Gateway", "edge", "public", {
        "gatewayClassName": "eg", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80,
                                                 "allowedRoutes": {"namespaces": {"from": "All"}}}]})
    allowed = "envoy-gateway-system" if policy_admits_gateway else "monitoring"
    builder.network_policy("shop", "cart-ingress", {
        "podSelector": {"matchLabels": {"app": "cart"}}, "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": allowed}}}]}]})
    return builder.build()


def _write(tmp_path: Path, objects: list[dict[str, Any]]) -> str:
    import yaml

    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    return str(path)


@pytest.mark.parametrize(("admits", "verdict"), [(True, "ok"), (False, "unreachable")])
def test_from_gateway_makes_the_data_plane_pod_the_client(tmp_path: Path, admits: bool, verdict: str) -> None:
    snapshot = _write(tmp_path, gateway_cluster(admits))
    report = run_cli("check", "cart", "-n", "shop", "--snapshot", snapshot, "--from-gateway", "edge/public",
                     "-o", "json").json()
    assert report["verdict"] == verdict
    if not admits:
        denied = [f for f in report["findings"] if f["id"] == "SD601"]
        assert denied and "envoy-gateway-system/envoy-edge-public-2c7e-" in denied[0]["message"]


def test_from_gateway_without_data_plane_pods_asks_for_from(tmp_path: Path) -> None:
    snapshot = _write(tmp_path, gateway_cluster(True))
    result = run_cli("check", "cart", "-n", "shop", "--snapshot", snapshot, "--from-gateway", "edge/private")
    assert result.exit_code == 2
    assert "no data-plane Pod found" in result.stderr and "--from NAMESPACE/POD" in result.stderr


def test_from_gateway_live_reads_the_data_plane_pods(tmp_path: Path) -> None:
    from svcdoctor.serve.apiserver import SnapshotAPIServer

    with SnapshotAPIServer(gateway_cluster(False)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        report = run_cli("check", "cart", "--from-gateway", "edge/public", "--kubeconfig", config, "-o", "json").json()
        assert report["verdict"] == "unreachable"
        assert any(e.path == "/api/v1/pods" and e.query.get("labelSelector")
                   == "gateway.envoyproxy.io/owning-gateway-name=public" for e in api.requests())
