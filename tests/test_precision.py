"""False positives on real applications (issue 13): each class, decided from Kubernetes' own semantics.

Manifests get stand-in Pods with the labels their controllers add; the rules that are not about
stand-ins (SD302, SD201, SD210, SD603) are tested on recorded or built snapshots too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from svcdoctor.engine import diagnose_service
from svcdoctor.findings import Client, Finding, Severity
from svcdoctor.report import Report
from svcdoctor.snapshot import build_snapshot
from svcdoctor.sources.manifests import ManifestsSource
from tests.checks.step2 import cluster
from tests.conftest import run_cli


def _manifests(tmp_path: Path, text: str, name: str = "app.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _check(path: Path, service: str, namespace: str = "default", client: Client | None = None) -> Report:
    snapshot = ManifestsSource(str(path)).load()
    return diagnose_service(snapshot, namespace, service, client=client)


def _ids(report: Report, severity: Severity | None = None) -> list[str]:
    return [f.id for f in report.findings if severity is None or f.severity is severity]


def _one(report: Report, check_id: str) -> Finding:
    matches = [f for f in report.findings if f.id == check_id]
    assert len(matches) == 1, [(f.id, f.severity, f.message) for f in report.findings]
    return matches[0]


# -- stand-in Pods carry what their controllers add ----------------------------------------------

REDIS = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: redis}
spec:
  serviceName: redis-headless
  replicas: 3
  selector: {matchLabels: {app: redis}}
  template:
    metadata: {labels: {app: redis}}
    spec:
      containers: [{name: redis, image: redis:7, ports: [{name: redis, containerPort: 6379}]}]
---
apiVersion: v1
kind: Service
metadata: {name: redis-headless}
spec:
  clusterIP: None
  selector: {app: redis}
  ports: [{name: redis, port: 6379, targetPort: redis}]
---
apiVersion: v1
kind: Service
metadata: {name: redis-announce-1}
spec:
  selector:
    app: redis
    statefulset.kubernetes.io/pod-name: {pod}
  ports: [{name: redis, port: 6379, targetPort: redis}]
"""


def test_a_service_selecting_one_statefulset_replica_by_pod_name(tmp_path: Path) -> None:
    # The StatefulSet controller labels each Pod with its name (updateIdentity), so the "announce"
    # Service of one replica selects exactly redis-1.
    report = _check(_manifests(tmp_path, REDIS.replace("{pod}", "redis-1")), "redis-announce-1")
    assert not _ids(report), [(f.id, f.message) for f in report.findings]
    snapshot = ManifestsSource(str(tmp_path / "app.yaml")).load()
    labels = {p["metadata"]["name"]: p["metadata"]["labels"] for p in snapshot.pods}
    assert labels["redis-2"]["apps.kubernetes.io/pod-index"] == "2"


def test_a_pod_name_beyond_the_replicas_is_still_an_error(tmp_path: Path) -> None:
    report = _check(_manifests(tmp_path, REDIS.replace("{pod}", "redis-3")), "redis-announce-1")
    finding = _one(report, "SD301")
    assert finding.severity is Severity.ERROR and report.verdict == "unreachable"


JOB = """\
apiVersion: batch/v1
kind: {kind}
metadata: {{name: migrate}}
spec:
{spec}
---
apiVersion: v1
kind: Service
metadata: {{name: migrate}}
spec:
  selector: {{{selector}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""
JOB_SPEC = "  template:\n    metadata: {labels: {app: migrate}}\n    spec:\n      containers: [{name: m, image: m:1}]"
CRON_SPEC = ("  schedule: '0 * * * *'\n  jobTemplate:\n    spec:\n" + "\n".join("    " + line for line in
                                                                                JOB_SPEC.splitlines()))


@pytest.mark.parametrize(("kind", "spec", "selector", "severity"), [
    ("Job", JOB_SPEC, "batch.kubernetes.io/job-name: migrate", None),  # known before deploy: the Job's name
    ("Job", JOB_SPEC, "job-name: migrate", None),
    ("Job", JOB_SPEC, "batch.kubernetes.io/job-name: other", Severity.ERROR),
    ("Job", JOB_SPEC, "app: migrate, controller-uid: 0a1b", Severity.INFO),  # the UID exists only once created
    ("CronJob", CRON_SPEC, "job-name: migrate-28000000", Severity.INFO),  # a CronJob's Jobs get generated names
])
def test_job_labels(tmp_path: Path, kind: str, spec: str, selector: str, severity: Severity | None) -> None:
    report = _check(_manifests(tmp_path, JOB.format(kind=kind, spec=spec, selector=selector)), "migrate")
    found = [f for f in report.findings if f.id == "SD301"]
    assert [f.severity for f in found] == ([severity] if severity else [])


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web:1, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {selector}
  ports: [{port: 80, targetPort: http}]
"""


def test_a_selector_on_a_value_known_only_after_deploy_is_info(tmp_path: Path) -> None:
    text = DEPLOYMENT.replace("{selector}", "{app: web, pod-template-hash: 5d7c9f}")
    report = _check(_manifests(tmp_path, text), "web")
    finding = _one(report, "SD301")
    assert finding.severity is Severity.INFO and report.verdict == "ok"
    assert "pod-template-hash" in finding.message and "Deployment default/web" in finding.message
    # … but only when the template matches the rest of the selector.
    report = _check(_manifests(tmp_path, text.replace("{app: web,", "{app: wbe,")), "web")
    assert _one(report, "SD301").severity is Severity.ERROR


# -- Pods an operator will create -----------------------------------------------------------------

PROMETHEUS_SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: prometheus-main}
spec:
  selector: {prometheus: main}
  ports: [{name: web, port: 9090, targetPort: web}]
"""
PROMETHEUS = """\
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: main}
spec: {replicas: 2}
"""
ALERTMANAGER = """\
---
apiVersion: monitoring.coreos.com/v1
kind: Alertmanager
metadata: {name: main}
spec:
  podMetadata:
    labels: {team: sre}
---
apiVersion: v1
kind: Service
metadata: {name: alertmanager}
spec:
  selector: {team: sre}
  ports: [{port: 9093}]
"""


def test_pods_an_operator_creates_from_a_custom_resource_are_info_naming_it(tmp_path: Path) -> None:
    path = _manifests(tmp_path, PROMETHEUS_SERVICE + PROMETHEUS + ALERTMANAGER)
    finding = _one(_check(path, "prometheus-main"), "SD301")
    assert finding.severity is Severity.INFO and "Prometheus default/main" in finding.message
    # The labels its spec asks for (podMetadata.labels) count too.
    finding = _one(_check(path, "alertmanager"), "SD301")
    assert finding.severity is Severity.INFO and "Alertmanager default/main" in finding.message


def test_without_such_a_resource_it_stays_an_error(tmp_path: Path) -> None:
    report = _check(_manifests(tmp_path, PROMETHEUS_SERVICE + PROMETHEUS.replace("name: main", "name: other")),
                    "prometheus-main")
    assert _one(report, "SD301").severity is Severity.ERROR


# -- SD302: versions of one app vs. distinct apps ------------------------------------------------

def _versions_snapshot(labels: dict[str, dict[str, str]], images: dict[str, str]) -> Any:
    b = cluster()
    for name, extra in labels.items():
        b.deployment("shop", name, {"app": "reviews", **extra}, [b.container("reviews", images[name], [
            {"name": "http", "containerPort": 9080}])], replicas=1)
    b.service("shop", "reviews", {"app": "reviews"}, [{"name": "http", "port": 9080, "targetPort": "http"}])
    return b.build()


@pytest.mark.parametrize("static", [False, True])
def test_sd302_versions_of_one_app_are_info(static: bool) -> None:
    # Istio's bookinfo: reviews-v1/v2/v3, one app label, a version label each, an image each.
    labels = {f"reviews-v{n}": {"version": f"v{n}"} for n in (1, 2, 3)}
    images = {name: f"docker.io/istio/examples-bookinfo-{name}:1.20" for name in labels}
    snapshot = build_snapshot(_versions_snapshot(labels, images), static=static)
    finding = _one(diagnose_service(snapshot, "shop", "reviews"), "SD302")
    assert finding.severity is Severity.INFO and "versions of one app (version: v1, v2, v3)" in finding.message


@pytest.mark.parametrize("static", [False, True])
def test_sd302_distinct_helm_releases_stay_a_warning_even_with_one_image(static: bool) -> None:
    labels = {f"reviews-{r}": {"app.kubernetes.io/instance": r} for r in ("blue-team", "red-team")}
    images = dict.fromkeys(labels, "docker.io/example/reviews:1.0")
    finding = _one(diagnose_service(build_snapshot(_versions_snapshot(labels, images), static=static),
                                    "shop", "reviews"), "SD302")
    assert finding.severity is Severity.WARNING and "app.kubernetes.io/instance" in finding.message


def test_sd302_unrelated_workloads_stay_a_warning() -> None:
    labels = {"reviews": {"tier": "web"}, "ratings": {"tier": "db"}}
    images = {"reviews": "example/reviews:1", "ratings": "example/ratings:1"}
    finding = _one(diagnose_service(build_snapshot(_versions_snapshot(labels, images)), "shop", "reviews"), "SD302")
    assert finding.severity is Severity.WARNING


# -- SD603 without the DNS Pods, and what ranks first ------------------------------------------

#: The Service shop/api and its Deployment, and a client Pod: ``{client}`` is its name and app label.
CLIENT_AND_API = """\
apiVersion: v1
kind: Pod
metadata: {name: {client}, namespace: shop, labels: {app: {client}}}
spec:
  containers: [{name: c, image: busybox}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: api:1, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: http}]
---
"""
POLICY_APP = CLIENT_AND_API.replace("{client}", "client") + """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
    - to:
        - podSelector: {matchLabels: {app: db}}
      ports: [{port: 5432}]
    - to:
{peers}
"""


@pytest.mark.parametrize(("peers", "dns"), [
    # Every Pod of its own namespace, on every port: never a Pod of kube-system.
    ("        - podSelector: {}", "error"),
    ("        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}", "error"),
    # Admits kube-system (every namespace carries kubernetes.io/metadata.name): DNS is allowed.
    ("        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}", None),
    # A label the input does not show on kube-system: cannot be decided.
    ("        - namespaceSelector: {matchLabels: {name: kube-system}}", "unknown"),
])
def test_sd603_decided_from_the_rules_peers_without_dns_pods(tmp_path: Path, peers: str, dns: str | None) -> None:
    path = _manifests(tmp_path, POLICY_APP.replace("{peers}", peers))
    report = _check(path, "api", "shop", Client("pod", "shop", "client"))
    found = [f for f in report.findings if f.id == "SD603"]
    statuses = {r.id: r.status for step in report.steps for r in step.checks}
    if dns == "error":
        assert [f.severity for f in found] == [Severity.ERROR]
        assert report.findings[0].id == "SD603"  # ranked first: the lookup fails before any connection
    elif dns is None:
        assert not found and statuses["SD603"] == "pass"
    else:
        assert not found and statuses["SD603"] == "unknown"


def test_dns_ranks_first_when_the_target_is_blocked_too(tmp_path: Path) -> None:
    # The second rule admits only the own namespace's Pods on 53: the API Pods are denied, and so is DNS.
    path = _manifests(tmp_path, POLICY_APP.replace("{peers}", "        - podSelector: {}\n      ports: [{port: 53, "
                                                        "protocol: UDP}]"))
    report = _check(path, "api", "shop", Client("pod", "shop", "client"))
    assert _ids(report)[:2] == ["SD603", "SD602"]


# -- SD601 / SD602 at the rule that nearly matched ------------------------------------------------

NEAR_RULE = CLIENT_AND_API.replace("{client}", "frontend") + """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
    - from:
        - podSelector: {matchLabels: {app: monitoring}}
      ports: [{port: 9090}]
    - from:
        - podSelector: {matchLabels: {app: frontend}}
      ports: [{port: 8081}]
"""


def test_sd601_points_at_the_rule_that_nearly_matched(tmp_path: Path) -> None:
    path = _manifests(tmp_path, NEAR_RULE)
    report = _check(path, "api", "shop", Client("pod", "shop", "frontend"))
    finding = _one(report, "SD601")
    line = NEAR_RULE.splitlines().index("    - from:", NEAR_RULE.splitlines().index("      ports: [{port: 9090}]")) + 1
    origin = report.origins.get(finding.subject) if finding.subject else None
    assert origin is not None and origin.line_of(finding.subject_field) == line
    result = run_cli("check", "api", "-n", "shop", "--manifests", str(path), "--from", "shop/frontend", "-o", "json")
    [located] = [f for f in result.json()["findings"] if f["id"] == "SD601"]
    assert located["location"] == {"path": str(path), "line": line}


def test_json_location_of_a_statefulset_service_name_typo(tmp_path: Path) -> None:
    text = REDIS.replace("{pod}", "redis-1").replace("serviceName: redis-headless", "serviceName: redis-headles")
    text += ("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: sentinel}\n"
             "data:\n  conf: 'redis-0.redis-headless'\n")
    path = _manifests(tmp_path, text)
    result = run_cli("check", "redis-headless", "--manifests", str(path), "-o", "json")
    [finding] = [f for f in json.loads(result.stdout)["findings"] if f["id"] == "SD210"]
    assert finding["severity"] == "warning" and finding["location"] == {"path": str(path), "line": 5}


# -- the same judgement live, from a recording, and (where it applies) before deploy ------------------


def _precision_cluster() -> list[dict[str, Any]]:
    """Real Pods of three harmless patterns: versions of one app, an unused serviceName, undeclared ports."""
    b = cluster()
    b.namespace("kube-system")
    for version in ("v1", "v2", "v3"):
        b.deployment("shop", f"reviews-{version}", {"app": "reviews", "version": version},
                     [b.container("reviews", f"docker.io/istio/examples-bookinfo-reviews-{version}:1.20",
                                  [{"name": "http", "containerPort": 9080}])], replicas=1)
    b.service("shop", "reviews", {"app": "reviews"}, [{"name": "http", "port": 9080, "targetPort": "http"}])
    b.stateful_set("shop", "queue", {"app": "queue"},
                   [b.container("queue", "rabbitmq:3.13", [{"name": "amqp", "containerPort": 5672}])],
                   service_name="queue", replicas=1)
    b.service("shop", "queue", {"app": "queue"}, [{"name": "amqp", "port": 5672, "targetPort": "amqp"}])
    proxy_ports = [{"name": "admin", "containerPort": 9901}, {"name": "grpc", "containerPort": 9090}]
    b.deployment("shop", "proxy", {"app": "proxy"}, [b.container("proxy", "envoyproxy/envoy:v1.31", proxy_ports)])
    b.service("shop", "proxy", {"app": "proxy"}, [{"name": "https", "port": 443, "targetPort": 8443}])
    return b.build()


EXPECTED_LIVE = {("reviews", "SD302"): "info", ("queue", "SD210"): "info", ("proxy", "SD201"): "info"}


def _severities(result: Any) -> dict[tuple[str, str], str]:
    assert result.exit_code == 0, result.stderr
    return {(report["target"]["name"], finding["id"]): finding["severity"]
            for report in result.json()["reports"] for finding in report["findings"]}


def test_live_and_recorded_snapshots_judge_real_pods_alike(tmp_path: Path) -> None:
    from svcdoctor.serve.apiserver import SnapshotAPIServer

    objects = _precision_cluster()
    recorded = tmp_path / "snapshot.json"
    recorded.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    from_file = _severities(run_cli("scan", "-n", "shop", "--snapshot", str(recorded), "-o", "json"))
    with SnapshotAPIServer(objects) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        live = _severities(run_cli("scan", "-n", "shop", "--kubeconfig", config, "-o", "json"))
    assert live == from_file
    assert {key: live.get(key) for key in EXPECTED_LIVE} == EXPECTED_LIVE
    assert not [key for key, severity in live.items() if severity in ("error", "warning")], live
