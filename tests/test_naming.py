"""Naming things the kubectl way: ``check svc/NAME``, ``NAME.NS``, ``--from TYPE/NAME``, a Pod-name
prefix, near names, and kubectl's global flags before the subcommand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from svcdoctor.cli.root import hoist_global_flags
from svcdoctor.serve.apiserver import SnapshotAPIServer
from svcdoctor.testing.cluster import ClusterBuilder
from tests.conftest import ROOT, SCENARIOS, run_cli

DEMO = str(ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml")
STATEFUL = str(SCENARIOS / "healthy-headless-statefulset" / "snapshot.yaml")


def report(*args: str) -> dict[str, Any]:
    result = run_cli(*args, "-o", "json", "--fail-on", "never")
    assert result.exit_code == 0, result.stderr
    return result.json()


@pytest.mark.parametrize("spelling", [["svc/backend", "-n", "shop"], ["service/backend", "-n", "shop"],
                                      ["services/backend", "-n", "shop"], ["backend.shop"],
                                      ["backend.shop.svc.cluster.local"], ["svc/backend.shop"]])
def test_a_service_named_as_kubectl_or_dns_names_it(spelling: list[str]) -> None:
    named = report("check", *spelling, "--snapshot", DEMO)
    assert named["target"] == {"namespace": "shop", "name": "backend"}
    assert named["findings"] == report("check", "backend", "-n", "shop", "--snapshot", DEMO)["findings"]


@pytest.mark.parametrize(("args", "message"), [
    (["backend.shop", "-n", "other"], "'backend.shop' names namespace shop, but -n says other"),
    (["deploy/backend", "-n", "shop"],
     "Service 'deploy/backend' is not a valid Kubernetes name; expected NAME, svc/NAME or NAME.NAMESPACE"),
])
def test_a_service_name_that_cannot_be_read_is_one_line(args: list[str], message: str) -> None:
    result = run_cli("check", *args, "--snapshot", DEMO)
    assert result.exit_code == 2 and result.stderr == f"svcdoctor: error: {message}\n"


def test_global_flags_before_the_subcommand() -> None:
    assert hoist_global_flags(["-n", "shop", "check", "backend"]) == ["check", "backend", "-n", "shop"]
    assert hoist_global_flags(["--debug", "--namespace=shop", "-A", "scan"]) == ["--debug", "scan",
                                                                                 "--namespace=shop", "-A"]
    assert hoist_global_flags(["check", "-n", "a", "x"]) == ["check", "-n", "a", "x"]
    first = report("-n", "shop", "check", "backend", "--snapshot", DEMO)
    assert first["target"] == {"namespace": "shop", "name": "backend"}
    assert run_cli("--namespace", "shop", "scan", "--snapshot", DEMO, "-o", "json").json()["summary"]["services"] == 2


def test_from_a_deployment_picks_a_ready_pod_of_it() -> None:
    client = report("check", "backend", "-n", "shop", "--snapshot", DEMO, "--from", "deploy/frontend")["client"]
    assert client in ("shop/frontend-ddcj28l7m-jsshd", "shop/frontend-ddcj28l7m-s58x6")
    assert report("check", "backend", "-n", "shop", "--snapshot", DEMO,
                  "--from", "shop/deployment/frontend")["client"] == client


def test_from_a_statefulset_and_a_daemonset() -> None:
    pods = [item for item in yaml.safe_load(Path(STATEFUL).read_text())["items"] if item["kind"] == "Pod"]
    owned = sorted(p["metadata"]["name"] for p in pods
                   if any(o["kind"] == "StatefulSet" for o in p["metadata"].get("ownerReferences", [])))
    namespace = pods[0]["metadata"]["namespace"] if owned else ""
    assert owned
    owner = next(o["name"] for p in pods for o in p["metadata"].get("ownerReferences", [])
                 if o["kind"] == "StatefulSet")
    result = run_cli("check", "postgres", "-n", namespace, "--snapshot", STATEFUL, "--from", f"sts/{owner}",
                     "-o", "json")
    assert result.json()["client"] in [f"{namespace}/{name}" for name in owned], result.stderr


def test_a_unique_prefix_works_and_an_ambiguous_one_lists_the_pods() -> None:
    client = report("check", "backend", "-n", "shop", "--snapshot", DEMO, "--from", "frontend-ddcj28l7m-j")["client"]
    assert client == "shop/frontend-ddcj28l7m-jsshd"
    result = run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "--from", "frontend")
    assert result.exit_code == 2
    assert result.stderr == ("svcdoctor: error: --from: 2 Pods in shop start with 'frontend': "
                             "frontend-ddcj28l7m-jsshd, frontend-ddcj28l7m-s58x6\n")


def test_near_names_are_suggested() -> None:
    result = run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "--from", "frontend-ddcj28l7m-jsshx")
    assert result.exit_code == 2 and "did you mean frontend-ddcj28l7m-jsshd" in result.stderr
    result = run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "--from", "deploy/frontent")
    assert result.exit_code == 2
    assert result.stderr == ("svcdoctor: error: --from: no Pod of deployment frontent in shop in the snapshot; "
                             "did you mean deploy/frontend?\n")


@pytest.mark.parametrize("spelling", ["monitoring/svc/scraper", "monitoring/service/scraper"])
def test_from_a_service_picks_a_ready_pod_it_selects(tmp_path: Path, spelling: str) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": _ambiguous_cluster()}))
    client = report("check", "backend", "-n", "shop", "--snapshot", str(path), "--from", spelling)["client"]
    assert client.startswith("monitoring/prometheus-")
    assert report("check", "backend", "-n", "monitoring", "--snapshot", str(path), "--from",
                  "svc/scraper")["client"] == client
    with SnapshotAPIServer(_ambiguous_cluster()) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        assert report("check", "backend", "--kubeconfig", config, "--from", spelling)["client"] == client
    missing = run_cli("check", "backend", "-n", "shop", "--snapshot", str(path), "--from", "monitoring/svc/scrapper")
    assert missing.exit_code == 2
    assert missing.stderr.endswith("Service monitoring/scrapper is not in the snapshot; did you mean svc/scraper?\n")


@pytest.mark.parametrize(("value", "near"), [("monitoring/promethues", "deploy/prometheus"),
                                             ("monitoring/deploy/promethus", "deploy/prometheus"),
                                             ("monitoring/sts/prometheus", "deploy/prometheus"),
                                             ("monitoring/scrapr", "svc/scraper")])
def test_a_misspelt_client_suggests_the_workloads_and_services_near_it(tmp_path: Path, value: str,
                                                                         near: str) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": _ambiguous_cluster()}))
    result = run_cli("check", "backend", "-n", "shop", "--snapshot", str(path), "--from", value)
    assert result.exit_code == 2 and f"did you mean {near}?" in result.stderr, result.stderr


def _ambiguous_cluster() -> list[dict[str, Any]]:
    """A namespace called ``deploy`` holding a Pod ``frontend``, beside a Deployment ``frontend`` in shop;
    Prometheus (a Deployment) in monitoring with a Service ``scraper`` selecting it."""
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("shop")
    b.namespace("deploy")
    b.node("node-a", "172.18.0.2")
    http = [{"name": "http", "containerPort": 8080}]
    b.deployment("shop", "frontend", {"app": "frontend"}, [b.container("frontend", "frontend:1", http)], replicas=1)
    b.deployment("shop", "backend", {"app": "backend"}, [b.container("backend", "backend:1", http)], replicas=1)
    b.service("shop", "backend", {"app": "backend"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    b.pod("deploy", "frontend", {"app": "tool"}, [b.container("tool", "tool:1")])
    b.namespace("monitoring")
    b.deployment("monitoring", "prometheus", {"app": "prometheus"},
                 [b.container("prometheus", "prometheus:1", http)], replicas=2)
    b.service("monitoring", "scraper", {"app": "prometheus"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    return b.build()


def test_an_existing_namespace_wins_and_the_report_says_so(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": _ambiguous_cluster()}))
    ambiguous = report("check", "backend", "-n", "shop", "--snapshot", str(path), "--from", "deploy/frontend")
    assert ambiguous["client"] == "deploy/frontend"
    assert any("read as Pod frontend in namespace deploy" in note and "shop/deploy/frontend" in note
               for note in ambiguous["notes"])
    explicit = report("check", "backend", "-n", "shop", "--snapshot", str(path), "--from", "shop/deploy/frontend")
    assert explicit["client"].startswith("shop/frontend-") and explicit["notes"] == []


def test_live_from_a_deployment_and_a_prefix(tmp_path: Path) -> None:
    with SnapshotAPIServer(_ambiguous_cluster()) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        workload = report("check", "backend", "--kubeconfig", config, "--from", "shop/deploy/frontend")
        assert workload["client"].startswith("shop/frontend-") and workload["verdict"] == "ok"
        api.clear_log()
        prefixed = report("check", "backend", "--kubeconfig", config, "--from", "frontend-")
        assert prefixed["client"] == workload["client"]
        assert {entry.verb for entry in api.requests()} == {"GET"}
        ambiguous = report("-n", "shop", "check", "backend", "--kubeconfig", config, "--from", "deploy/frontend")
        assert ambiguous["client"] == "deploy/frontend" and ambiguous["notes"]


# -- check --port ---------------------------------------------------------------------------------

MANIFESTS = """\
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: shop
spec:
  selector:
    app: api
  ports:
  - name: http
    port: 80
    targetPort: http
  - name: metrics
    port: 9090
    targetPort: metrics
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  replicas: 1
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      containers:
      - name: api
        image: api:1
        ports:
        - name: http
          containerPort: 8080
"""


def test_port_narrows_a_multi_port_service_and_keeps_the_line_of_that_port(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_text(MANIFESTS)
    whole = report("check", "api", "-n", "shop", "--manifests", str(path))
    assert [f["id"] for f in whole["findings"]][:1] == ["SD202"]
    healthy = report("check", "api", "-n", "shop", "--manifests", str(path), "--port", "http")
    assert [f for f in healthy["findings"] if f["severity"] != "info"] == []
    assert "--port http: only this port of the Service was checked" in healthy["notes"]
    for spelling in ("metrics", "9090"):
        broken = report("check", "api", "-n", "shop", "--manifests", str(path), "--port", spelling)
        assert broken["rootCause"] == "SD202"
        line = MANIFESTS.splitlines().index("  - name: metrics") + 1
        assert broken["findings"][0]["location"]["line"] in (line, line + 2)


def test_a_port_the_service_lacks_is_one_line_naming_its_ports() -> None:
    result = run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "--port", "grpc")
    assert result.exit_code == 2
    assert result.stderr == ("svcdoctor: error: --port grpc: Service shop/backend has no such port "
                             "(its ports: http (80))\n")
