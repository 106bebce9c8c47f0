"""The manifests source: positions, stand-in Pods, namespaces, inputs and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svcdoctor.errors import InputError
from svcdoctor.k8s import ObjectRef
from svcdoctor.sources.manifests import REPLICAS, TEMPLATE_OF, ManifestsSource
from tests.conftest import run_cli

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: http
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    team: storefront
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports:
            - name: http
              containerPort: 8080
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_positions_of_objects_and_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, "all.yaml", "# Source: chart/templates/svc.yaml\n---\n" + SERVICE + "---\n" + DEPLOYMENT)
    snapshot = ManifestsSource(str(path)).load()
    origin = snapshot.origin(ObjectRef("Service", "default", "web"))
    assert origin is not None and origin.path == str(path)
    assert origin.line == 3  # after the comment and the separator
    assert origin.line_of("spec.selector") == 8
    assert origin.line_of("spec.ports[0].targetPort") == 13
    assert origin.line_of("spec.ports[0]") == 11
    # An unknown field falls back to its nearest recorded parent.
    assert origin.line_of("spec.ports[0].appProtocol") == 11
    deployment = snapshot.origin(ObjectRef("Deployment", "default", "web"))
    assert deployment is not None and deployment.line == 15


def test_workload_template_stands_in_for_its_pods(tmp_path: Path) -> None:
    path = _write(tmp_path, "deploy.yaml", DEPLOYMENT)
    snapshot = ManifestsSource(str(path), default_namespace="shop").load()
    assert snapshot.static
    [pod] = snapshot.pods
    assert pod["metadata"]["namespace"] == "shop"
    assert pod["metadata"]["labels"] == {"app": "web"}
    assert pod["metadata"]["annotations"][TEMPLATE_OF] == "Deployment shop/web"
    assert pod["metadata"]["annotations"][REPLICAS] == "3"
    assert pod["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080
    assert "status" not in pod  # no runtime state is invented
    assert snapshot.workload_of(pod) == ObjectRef("Deployment", "shop", "web")
    # The Pod's fields point at the template's lines.
    origin = snapshot.origin(ObjectRef("Pod", "shop", pod["metadata"]["name"]))
    assert origin is not None
    assert origin.line_of("spec.containers[0].ports[0].containerPort") == 22
    assert origin.line_of("metadata.labels") == 14


def test_statefulset_pods_get_ordinals_hostname_and_subdomain(tmp_path: Path) -> None:
    path = _write(tmp_path, "sts.yaml", """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
spec:
  serviceName: db-headless
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres:16}]
""")
    snapshot = ManifestsSource(str(path)).load()
    pods = sorted(snapshot.pods, key=lambda p: p["metadata"]["name"])
    assert [p["metadata"]["name"] for p in pods] == ["db-0", "db-1"]
    assert [(p["spec"]["hostname"], p["spec"]["subdomain"]) for p in pods] == [("db-0", "db-headless"),
                                                                             ("db-1", "db-headless")]


@pytest.mark.parametrize(("kind", "template", "expected_replicas"), [
    ("CronJob", "spec:\n  schedule: '0 * * * *'\n  jobTemplate:\n    spec:\n      template:\n{t}", "1"),
    ("Job", "spec:\n  parallelism: 4\n  template:\n{t}", "4"),
    ("DaemonSet", "spec:\n  selector: {{matchLabels: {{app: x}}}}\n  template:\n{t}", "one per node"),
    ("ReplicationController", "spec:\n  replicas: 2\n  template:\n{t}", "2"),
    ("ReplicaSet", "spec:\n  replicas: 5\n  selector: {{matchLabels: {{app: x}}}}\n  template:\n{t}", "5"),
])
def test_every_workload_kind(tmp_path: Path, kind: str, template: str, expected_replicas: str) -> None:
    depth = template.format(t="").splitlines()[-1].index("template") + 2
    pad = " " * depth
    body = (f"{pad}metadata:\n{pad}  labels:\n{pad}    app: x\n{pad}spec:\n{pad}  containers:\n"
            f"{pad}    - name: c\n{pad}      image: busybox\n")
    path = _write(tmp_path, "w.yaml", f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: w\n" + template.format(t=body))
    snapshot = ManifestsSource(str(path)).load()
    [pod] = snapshot.pods
    # The Job strategy adds the Job's name as a label; no other controller adds one known before deploy.
    added = {"batch.kubernetes.io/job-name": "w", "job-name": "w"} if kind == "Job" else {}
    assert pod["metadata"]["labels"] == {"app": "x", **added}
    assert pod["metadata"]["annotations"][REPLICAS] == expected_replicas
    assert pod["metadata"]["annotations"][TEMPLATE_OF] == f"{kind} default/w"


def test_scaled_to_zero_makes_no_pod_and_owned_replicaset_defers(tmp_path: Path) -> None:
    path = _write(tmp_path, "w.yaml", DEPLOYMENT.replace("replicas: 3", "replicas: 0") + """\
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d8f
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, controller: true}]
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
""")
    assert ManifestsSource(str(path)).load().pods == ()


def test_namespaces_as_kubectl_apply_sets_them(tmp_path: Path) -> None:
    path = _write(tmp_path, "ns.yaml", SERVICE + """\
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: elsewhere}
spec: {selector: {app: other}, ports: [{port: 80}]}
""")
    snapshot = ManifestsSource(str(path), default_namespace="shop").load()
    assert snapshot.service("shop", "web") is not None
    assert snapshot.service("elsewhere", "other") is not None
    assert "namespace" not in snapshot.namespaces[0]["metadata"]  # cluster-scoped stays so


def test_directory_walked_recursively_and_service_in_another_file(tmp_path: Path) -> None:
    _write(tmp_path, "base/service.yaml", SERVICE)
    _write(tmp_path, "base/apps/deployment.yml", DEPLOYMENT)
    _write(tmp_path, "base/README.md", "not yaml")
    result = run_cli("check", "web", "--manifests", str(tmp_path), "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["verdict"] == "ok" and [f for f in report["findings"] if f["severity"] != "info"] == []
    assert report["source"] == {"kind": "manifests", "path": str(tmp_path)}
    steps = {step["step"]: step for step in report["steps"]}
    assert steps[5]["status"] == "skipped" and "needs a cluster" in steps[5]["reason"]
    assert any("static run" in note for note in report["notes"])


def test_stdin_helm_stream(tmp_path: Path) -> None:
    stream = ("---\n# Source: web/templates/service.yaml\n" + SERVICE.replace("app: web", "app: web-v2")
              + "---\n# Source: web/templates/empty.yaml\n---\n# Source: web/templates/deployment.yaml\n" + DEPLOYMENT)
    result = run_cli("check", "web", "-n", "shop", "--manifests", "-", "-o", "json", stdin=stream)
    assert result.exit_code == 1, result.stderr
    report = result.json()
    assert report["findings"][0]["id"] == "SD301"
    assert "Deployment shop/web" in report["findings"][0]["message"]
    text = run_cli("check", "web", "-n", "shop", "--manifests", "-", stdin=stream).stdout
    assert "at <stdin>:8" in text  # the selector's line in the stream


def test_json_input_and_typed_lists(tmp_path: Path) -> None:
    import yaml

    service = yaml.safe_load(SERVICE)
    deployment = yaml.safe_load(DEPLOYMENT)
    document = {"apiVersion": "v1", "kind": "List", "items": [service, deployment]}
    path = _write(tmp_path, "list.json", json.dumps(document, indent=2))
    snapshot = ManifestsSource(str(path)).load()
    assert snapshot.service("default", "web") is not None and len(snapshot.pods) == 1
    origin = snapshot.origin(ObjectRef("Service", "default", "web"))
    assert origin is not None and origin.line is not None and origin.line_of("spec.selector") is not None


def test_later_object_replaces_earlier_one(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", SERVICE)
    _write(tmp_path, "b.yaml", SERVICE.replace("app: web", "app: web-canary"))
    snapshot = ManifestsSource(str(tmp_path)).load()
    assert len(snapshot.services) == 1
    assert snapshot.services[0]["spec"]["selector"] == {"app": "web-canary"}


@pytest.mark.parametrize(("text", "message", "line"), [
    (SERVICE.replace("port: 80", "port: ${PORT}"), "spec.ports[0].port \"${PORT}\" is not a port number "
                                                    "(an unrendered template?)", 10),
    (SERVICE.replace("port: 80", "port: '80'"), "is not a port number", 10),
    (SERVICE.replace("port: 80", "port: 70000"), "is outside 1-65535", 10),
    (SERVICE.replace("targetPort: http", "targetPort: '{{ .Values.port }}'"), "unrendered template", 11),
    (SERVICE.replace("targetPort: http", "targetPort: Http_Port"), "neither a port number nor a valid port name", 11),
    (DEPLOYMENT.replace("containerPort: 8080", "containerPort: eighty"), "containerPort \"eighty\"", 22),
    (SERVICE + "  bad: [unclosed\n", "invalid YAML", 13),
    ("kind: Service\nmetadata: {}\n", "has no metadata.name", 1),
    ("- just\n- a list\n", "is a list, not a Kubernetes object", 1),
    ("# only a comment\n", "no Kubernetes objects found", None),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: &a [*a]\n", "refers to the object that holds it", 4),
])
def test_bad_input_names_file_and_line(tmp_path: Path, text: str, message: str, line: int | None) -> None:
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(InputError) as error:
        ManifestsSource(str(path)).load()
    assert message in str(error.value)
    assert error.value.path == str(path)
    assert error.value.line == line
    result = run_cli("check", "web", "--manifests", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith("svcdoctor: error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    assert run_cli("check", "web", "--manifests", str(tmp_path / "nope.yaml")).exit_code == 2
    assert run_cli("check", "web", "--manifests", str(tmp_path)).exit_code == 2


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 10)}]")
    header = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n"
    path = _write(tmp_path, "bomb.yaml", header + "".join(f"  {line}\n" for line in lines))
    with pytest.raises(InputError, match="alias"):
        ManifestsSource(str(path)).load()


def test_scan_over_manifests_without_namespace_covers_every_namespace(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", SERVICE + "---\n" + SERVICE.replace("name: web", "name: api\n  namespace: backend"))
    result = run_cli("scan", "--manifests", str(tmp_path), "-o", "json")
    assert result.exit_code == 1, result.stderr
    names = sorted(f"{r['target']['namespace']}/{r['target']['name']}" for r in result.json()["reports"])
    assert names == ["backend/api", "default/web"]


def _bench_chart(apps: int) -> str:
    import importlib.util

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("manifests_bench", ROOT / "benchmarks" / "manifests_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.chart(apps))


@pytest.mark.parametrize(("apps", "limit"), [(60, 6_000), (200, 65_536)])
def test_markdown_scan_fits_a_pr_comment(tmp_path: Path, apps: int, limit: int) -> None:
    # A realistic rendered chart (6 objects per app, every 25th Service broken): the markdown of
    # the whole scan must paste as one PR comment (GitHub stops at 65,536 characters).
    path = _write(tmp_path, "chart.yaml", _bench_chart(apps))
    result = run_cli("scan", "-n", "platform", "--manifests", str(path), "-o", "markdown")
    assert result.exit_code == 1, result.stderr
    broken = [f"svc-{index:04d}" for index in range(0, apps, 25)]
    assert all(f"platform/{name}" in result.stdout for name in broken)
    assert len(result.stdout) < limit, len(result.stdout)


def test_from_names_a_workload_in_a_static_run(tmp_path: Path) -> None:
    path = _write(tmp_path, "app.yaml", SERVICE + "---\n" + DEPLOYMENT + "---\n"
                  + DEPLOYMENT.replace("name: web\n  annotations", "name: frontend\n  annotations")
                  .replace("app: web", "app: frontend"))
    result = run_cli("check", "web", "-n", "shop", "--manifests", str(path), "--from", "frontend", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["client"] == "Deployment shop/frontend's Pod template"
    missing = run_cli("check", "web", "-n", "shop", "--manifests", str(path), "--from", "nothing")
    assert missing.exit_code == 2 and "--from: Pod shop/nothing is not in the manifests" in missing.stderr


def test_stand_in_pods_are_named_as_their_workloads_pod_template(tmp_path: Path) -> None:
    # A made-up name (web-template) would read as a real Pod: the client, a denied backend and the
    # evidence all name the workload's Pod template instead.
    policy = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny\nspec:\n"
              "  podSelector:\n    matchLabels:\n      app: web\n  policyTypes: [Ingress]\n")
    path = _write(tmp_path, "app.yaml", SERVICE + "---\n" + DEPLOYMENT.replace("replicas: 3", "replicas: 1") + "---\n"
                  + DEPLOYMENT.replace("name: web\n  annotations", "name: frontend\n  annotations")
                  .replace("app: web", "app: frontend") + "---\n" + policy)
    args = ("check", "web", "-n", "shop", "--manifests", str(path), "--from", "frontend")
    report = run_cli(*args, "-o", "json").json()
    assert report["client"] == "Deployment shop/frontend's Pod template"
    denied = next(f for f in report["findings"] if f["id"] == "SD601")
    assert "ingress to Deployment shop/web's Pod template is denied" in denied["message"]
    text = run_cli(*args, "-v").stdout
    prose = [line for line in text.splitlines() if "kubectl " not in line and "svcdoctor " not in line]
    assert "from Deployment shop/frontend's Pod template" in text and not any("-template" in line for line in prose)


def test_findings_about_a_stand_in_pod_point_into_the_template(tmp_path: Path) -> None:
    from svcdoctor.checks.interface import Check, CheckDoc, Context
    from svcdoctor.engine import diagnose_service
    from svcdoctor.findings import Finding
    from svcdoctor.render import render

    path = _write(tmp_path, "app.yaml", SERVICE + "---\n" + DEPLOYMENT)
    snapshot = ManifestsSource(str(path), default_namespace="shop").load()

    def run(context: Context) -> list[Finding]:
        pod = context.selected_pods[0]
        return [CHECK.finding("the port", subject=ObjectRef("Pod", "shop", pod["metadata"]["name"]),
                              subject_field="spec.containers[0].ports[0].containerPort")]

    CHECK = Check(id="SD201", name="x", step=2, doc=CheckDoc.brief("t", "w" * 20, "f" * 10), run=run)
    report = diagnose_service(snapshot, "shop", "web", checks=[CHECK])
    assert report.origin_of(report.findings[0]) == (str(path), 12 + 22)
    text = " ".join(render(report, "text").split())
    assert f"at {path}:34 (Deployment shop/web's template)" in text
    assert "line=34," in render(report, "github") and "(Deployment shop/web's template)" in render(report, "github")


def test_helm_source_comments_name_the_template(tmp_path: Path) -> None:
    stream = ("---\n# Source: web/templates/service.yaml\n" + SERVICE.replace("app: web", "app: web-v2")
              + "---\n# Source: web/templates/deployment.yaml\n" + DEPLOYMENT)
    snapshot = ManifestsSource(str(_write(tmp_path, "rendered.yaml", stream))).load()
    service = snapshot.origin(ObjectRef("Service", "default", "web"))
    assert service is not None and service.note == "from web/templates/service.yaml"
    [pod] = snapshot.pods
    origin = snapshot.origin(ObjectRef("Pod", "default", pod["metadata"]["name"]))
    assert origin is not None
    assert origin.note == "Deployment default/web's template, from web/templates/deployment.yaml"
    result = run_cli("check", "web", "--manifests", "-", "-o", "github", stdin=stream)
    assert "(<stdin> line 8) (from web/templates/service.yaml)" in result.stdout.splitlines()[0]


def test_json_findings_carry_their_location(tmp_path: Path) -> None:
    path = _write(tmp_path, "svc.yaml", SERVICE)
    report = run_cli("check", "web", "--manifests", str(path), "-o", "json").json()
    assert report["findings"][0]["id"] == "SD301"
    assert report["findings"][0]["location"] == {"path": str(path), "line": 6}
