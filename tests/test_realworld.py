"""The real-world corpus (../shared/realworld-dev): known-working apps, one-bug mutants of them, and
the documented outcomes of public NetworkPolicy tutorials.

1. Every app scans without an error or warning finding, except the ones in :data:`JUSTIFIED`, each
   justified from the manifest itself (file and line).
2. Mutants: each makes one bug in a copy of an app at run time (a selector typo, a wrong targetPort,
   a renamed named port, a UDP/TCP mismatch, an Ingress to a missing port, a NetworkPolicy that
   cuts the frontend from its backend, a default-deny egress that cuts DNS, a StatefulSet
   serviceName typo); the right check must rank first, at the right file and line.
3. The Calico tutorials' NetworkPolicy steps: every documented allow/deny between Pods and Services,
   with ``reach`` and with ``check --from`` (the Cilium case and external names are out of scope).

The corpus is not part of the repository: without it the tests skip, and in CI they fail
(``@pytest.mark.shared``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from svcdoctor.selectors import from_service_selector
from svcdoctor.sources.manifests import ManifestsSource
from tests.conftest import ROOT, SHARED, run_cli

CORPUS = SHARED / "realworld-dev"
MANIFESTS = CORPUS / "manifests"
NETPOL = CORPUS / "netpol"


def _apps() -> list[str]:
    return sorted(p.name for p in MANIFESTS.iterdir() if p.is_dir()) if MANIFESTS.is_dir() else ["(corpus missing)"]


pytestmark = pytest.mark.shared("realworld-dev/manifests", "realworld-dev/netpol/expectations.yaml")


#: (app, Service, check) → why the finding is right, from the manifest itself. Empty: none is needed.
JUSTIFIED: dict[tuple[str, str, str], str] = {}


@pytest.mark.parametrize("app", _apps())
def test_known_working_app_has_no_error_or_warning(app: str) -> None:
    result = run_cli("scan", "--manifests", str(MANIFESTS / app), "-o", "json", "--fail-on", "never")
    assert result.exit_code == 0, result.stderr
    reports = result.json()["reports"]
    assert reports, f"{app}: no Service found"
    unjustified = [
        (report["target"]["name"], finding["id"], finding["severity"], finding.get("location"), finding["message"])
        for report in reports for finding in report["findings"]
        if finding["severity"] in ("error", "warning")
        and (app, report["target"]["name"], finding["id"]) not in JUSTIFIED
    ]
    assert not unjustified, unjustified


def test_corpus_size_and_false_positives_as_the_readme_states() -> None:
    """The README's figure: Services scanned, and error/warning findings among them (all false positives)."""
    services = flagged = 0
    for app in _apps():
        reports = run_cli("scan", "--manifests", str(MANIFESTS / app), "-o", "json", "--fail-on", "never"
                          ).json()["reports"]
        services += len(reports)
        flagged += sum(any(f["severity"] in ("error", "warning") for f in r["findings"]) for r in reports)
    readme = (ROOT / "README.md").read_text()
    assert f"{len(_apps())} public applications, {services} Services" in readme
    assert f"{flagged} with an error or warning" in readme


# -- mutants ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    """One bug made in a copy of an app: replace ``old`` by ``new`` in ``file`` (or add ``file``)."""

    name: str
    app: str
    file: str
    old: str
    new: str
    #: The Service whose report must rank ``check`` first.
    service: str
    check: str
    #: The file and the text of the line the finding must point at (unique in that file, after the mutation).
    at_file: str
    at_line: str
    namespace: str = "default"
    #: ``--from``: the client, for NetworkPolicy mutants.
    client: str = ""
    #: Builds the content of an added file from the app's own files (``old`` is then unused).
    added: Callable[[Path], str] | None = None


def _template_labels(app_dir: Path, kind: str, name: str) -> dict[str, str]:
    """The Pod template labels of a workload, read from the app's files."""
    for path in sorted(app_dir.rglob("*.y*ml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == kind and \
                    document.get("metadata", {}).get("name") == name:
                return dict(document["spec"]["template"]["metadata"]["labels"])
    raise AssertionError(f"{kind} {name} not in {app_dir}")


def _labels_yaml(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in labels.items()) + "}"


def _cut_frontend(namespace: str, backend: tuple[str, str], frontend: tuple[str, str],
                  wrong_port: int) -> Callable[[Path], str]:
    """A policy on the backend that admits the frontend only on a port the backend does not serve."""
    def build(app_dir: Path) -> str:
        return f"""\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: backend-ingress
  namespace: {namespace}
spec:
  podSelector:
    matchLabels: {_labels_yaml(_template_labels(app_dir, "Deployment", backend[1]))}
  ingress:
    - from:
        - podSelector:
            matchLabels: {{app.kubernetes.io/component: monitoring}}
      ports: [{{port: 9090}}]
    - ports: [{{port: {wrong_port}}}]
      from:
        - podSelector:
            matchLabels: {_labels_yaml(_template_labels(app_dir, "Deployment", frontend[1]))}
"""
    return build


def _deny_egress_but_backend(namespace: str, backend: str, frontend: str) -> Callable[[Path], str]:
    """A default-deny egress for the frontend that admits its backend and forgets DNS."""
    def build(app_dir: Path) -> str:
        return f"""\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: frontend-egress
  namespace: {namespace}
spec:
  podSelector:
    matchLabels: {_labels_yaml(_template_labels(app_dir, "Deployment", frontend))}
  policyTypes: [Egress]
  egress:
    - to:
        - podSelector:
            matchLabels: {_labels_yaml(_template_labels(app_dir, "Deployment", backend))}
"""
    return build


METALLB = "config/manifests/metallb-native.yaml"
EMOJI = "kustomize/deployment/"
GRPC = "networking/grpc-gke-nlb-tutorial/"
CAFE = "examples/ingress-resources/complete-example/"
KSM = "examples/daemonsetsharding/"
LB = "networking/load-balancing/"
TCP_UDP = "examples/custom-resources/basic-tcp-udp/"

MUTANTS = [
    # selector typos
    Mutant("podinfo-selector-typo", "podinfo", "deploy/bases/backend/service.yaml",
           "app.kubernetes.io/name: backend", "app.kubernetes.io/name: backnd", "backend", "SD301",
           "deploy/bases/backend/service.yaml", "  selector:"),
    Mutant("emojivoto-selector-typo", "emojivoto", EMOJI + "emoji.yml", "  selector:\n    app: emoji-svc",
           "  selector:\n    app: emoji-scv", "emoji-svc", "SD301", EMOJI + "emoji.yml",
           "  selector:\n    app: emoji-scv", namespace="emojivoto"),
    Mutant("gke-lb-selector-typo", "gke-load-balancing", LB + "web-service.yaml", "run: web", "run: wbe", "web",
           "SD301", LB + "web-service.yaml", "  selector:"),
    Mutant("elasticsearch-selector-typo", "elasticsearch", "es-svc.yaml", "  selector:\n    component: elasticsearch",
           "  selector:\n    component: elasticsearh", "elasticsearch", "SD301", "es-svc.yaml", "  selector:"),
    Mutant("aks-store-selector-typo", "aks-store", "aks-store-all-in-one.yaml", "  selector:\n    app: order-service",
           "  selector:\n    app: order-servce", "order-service", "SD301", "aks-store-all-in-one.yaml",
           "  selector:\n    app: order-servce"),
    Mutant("ksm-template-label-typo", "kube-state-metrics-daemonset-sharding", KSM + "deployment-service.yaml",
           "  selector:\n    app.kubernetes.io/name: kube-state-metrics\n",
           "  selector:\n    app.kubernetes.io/name: kube-state-metric\n",
           "kube-state-metrics", "SD301", KSM + "deployment-service.yaml", "  selector:", namespace="kube-system"),
    # wrong targetPorts, where the Pods say where they serve
    Mutant("emojivoto-wrong-target-port", "emojivoto", EMOJI + "web.yml", "targetPort: 8080", "targetPort: 8000",
           "web-svc", "SD201", EMOJI + "web.yml", "    targetPort: 8000", namespace="emojivoto"),
    Mutant("emojivoto-voting-wrong-target-port", "emojivoto", EMOJI + "voting.yml", "    targetPort: 8080",
           "    targetPort: 8081", "voting-svc", "SD201", EMOJI + "voting.yml", "    targetPort: 8081",
           namespace="emojivoto"),
    Mutant("grpc-envoy-wrong-target-port", "gke-grpc-nlb", GRPC + "envoy/k8s/envoy-service.yaml", "targetPort: 8443",
           "targetPort: 8444", "envoy", "SD201", GRPC + "envoy/k8s/envoy-service.yaml", "    targetPort: 8444"),
    # renamed named ports
    Mutant("podinfo-renamed-port", "podinfo", "deploy/bases/backend/deployment.yaml", "- name: grpc\n",
           "- name: grpc-api\n", "backend", "SD202", "deploy/bases/backend/service.yaml", "      targetPort: grpc"),
    Mutant("ksm-renamed-port", "kube-state-metrics-daemonset-sharding", KSM + "deployment.yaml",
           "name: telemetry", "name: telemetri", "kube-state-metrics", "SD202", KSM + "deployment-service.yaml",
           "      targetPort: telemetry", namespace="kube-system"),
    Mutant("grpc-echo-renamed-port", "gke-grpc-nlb", GRPC + "envoy/k8s/envoy-service.yaml", "targetPort: 8443",
           "targetPort: http", "envoy", "SD202", GRPC + "envoy/k8s/envoy-service.yaml", "    targetPort: http"),
    # UDP/TCP mismatches
    Mutant("emojivoto-udp", "emojivoto", EMOJI + "web.yml", "    targetPort: 8080\n",
           "    targetPort: 8080\n    protocol: UDP\n", "web-svc", "SD203", EMOJI + "web.yml", "    protocol: UDP",
           namespace="emojivoto"),
    Mutant("coredns-tcp-port-only-udp", "nginx-tcp-udp", TCP_UDP + "dns.yaml",
           "        - containerPort: 5353\n          name: dns-tcp\n          protocol: TCP\n", "", "coredns", "SD203",
           TCP_UDP + "dns.yaml", "    protocol: TCP"),
    Mutant("metallb-webhook-udp", "metallb", METALLB, "  - port: 443\n    targetPort: 9443\n",
           "  - port: 443\n    targetPort: 9443\n    protocol: UDP\n", "metallb-webhook-service", "SD203",
           METALLB, "    targetPort: 9443\n    protocol: UDP", namespace="metallb-system"),
    # Ingresses to ports the Service lacks
    Mutant("cafe-ingress-missing-port", "nginx-cafe-ingress", CAFE + "cafe-ingress.yaml",
           "name: coffee-svc\n            port:\n              number: 80",
           "name: coffee-svc\n            port:\n              number: 8080", "coffee-svc", "SD213",
           CAFE + "cafe-ingress.yaml", "              number: 8080"),
    Mutant("gke-fanout-missing-port", "gke-load-balancing", LB + "fanout-ingress.yaml",
           "name: web2\n            port:\n              number: 8080",
           "name: web2\n            port:\n              number: 8081", "web2", "SD213", LB + "fanout-ingress.yaml",
           "              number: 8081"),
    # NetworkPolicies that cut a frontend from its backend, and a default-deny egress that cuts DNS
    Mutant("podinfo-policy-cuts-frontend", "podinfo", "netpol.yaml", "", "", "backend", "SD601", "netpol.yaml",
           "    - ports: [{port: 9797}]", client="default/frontend",
           added=_cut_frontend("default", ("Deployment", "backend"), ("Deployment", "frontend"), 9797)),
    Mutant("emojivoto-policy-cuts-web", "emojivoto", "netpol.yaml", "", "", "voting-svc", "SD601", "netpol.yaml",
           "    - ports: [{port: 8801}]", namespace="emojivoto", client="emojivoto/web",
           added=_cut_frontend("emojivoto", ("Deployment", "voting"), ("Deployment", "web"), 8801)),
    Mutant("podinfo-egress-cuts-dns", "podinfo", "netpol.yaml", "", "", "backend", "SD603", "netpol.yaml",
           "  egress:", client="default/frontend", added=_deny_egress_but_backend("default", "backend", "frontend")),
    Mutant("emojivoto-egress-cuts-dns", "emojivoto", "netpol.yaml", "", "", "emoji-svc", "SD603", "netpol.yaml",
           "  egress:", namespace="emojivoto", client="emojivoto/web",
           added=_deny_egress_but_backend("emojivoto", "emoji", "web")),
    # a StatefulSet serviceName typo, while Kafka uses the per-Pod names
    Mutant("zookeeper-service-name-typo", "kafka-zookeeper", "statefulsets/zookeeper/zookeeper.yaml",
           "serviceName: zk-svc", "serviceName: zk-svx", "zk-svc", "SD210", "statefulsets/zookeeper/zookeeper.yaml",
           "  serviceName: zk-svx"),
]


def _line_of(text: str, snippet: str) -> int:
    """The 1-based line where ``snippet`` (unique in ``text``) starts."""
    assert text.count(snippet) == 1, f"{snippet!r} occurs {text.count(snippet)} times"
    return text[:text.index(snippet)].count("\n") + 1


def _make(mutant: Mutant, tmp_path: Path) -> Path:
    app_dir = tmp_path / mutant.app
    shutil.copytree(MANIFESTS / mutant.app, app_dir)
    target = app_dir / mutant.file
    if mutant.added is not None:
        target.write_text(mutant.added(app_dir))
    else:
        text = target.read_text()
        assert text.count(mutant.old) == 1, f"{mutant.name}: {mutant.old!r} occurs {text.count(mutant.old)} times"
        target.write_text(text.replace(mutant.old, mutant.new))
    return app_dir


def test_there_are_at_least_twenty_mutants_of_every_kind() -> None:
    assert len(MUTANTS) >= 20 and len({m.name for m in MUTANTS}) == len(MUTANTS)
    assert f"{len(MUTANTS)} one-bug mutants" in (ROOT / "README.md").read_text()
    assert {m.check for m in MUTANTS} >= {"SD301", "SD201", "SD202", "SD203", "SD213", "SD601", "SD603", "SD210"}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_is_caught_first_at_its_line(mutant: Mutant, tmp_path: Path) -> None:
    app_dir = _make(mutant, tmp_path)
    args = ["check", mutant.service, "-n", mutant.namespace, "--manifests", str(app_dir), "-o", "json"]
    if mutant.client:
        args += ["--from", mutant.client]
    result = run_cli(*args)
    assert result.exit_code in (0, 1), result.stderr
    findings = result.json()["findings"]
    assert findings, f"{mutant.name}: nothing found"
    first = findings[0]
    summary = [(f["id"], f["severity"], f.get("location")) for f in findings]
    assert first["id"] == mutant.check, summary
    assert first["severity"] in ("error", "warning"), summary
    expected_file = app_dir / mutant.at_file
    assert first["location"] == {"path": str(expected_file), "line": _first_line(expected_file, mutant.at_line)}, (
        summary)


def _first_line(path: Path, snippet: str) -> int:
    """The line of the last line of ``snippet`` when it spans lines and its first line is a shared key."""
    text = path.read_text()
    start = _line_of(text, snippet)
    lines = snippet.split("\n")
    # A snippet "  selector:\n    app: x" identifies a selector; the finding points at its key line.
    return start if len(lines) == 1 or lines[0].strip().endswith(":") else start + len(lines) - 1


# -- the NetworkPolicy tutorials -------------------------------------------------------------------


def _expectations() -> list[dict[str, Any]]:
    path = NETPOL / "expectations.yaml"
    return yaml.safe_load(path.read_text())["cases"] if path.exists() else []


def _calico_checks() -> list[tuple[str, int, dict[str, Any]]]:
    """(case, step, check) for every documented outcome between Pods and Services of the Calico cases."""
    result = []
    for case in _expectations():
        if not case["id"].startswith("calico"):
            continue  # the Cilium case uses CiliumNetworkPolicy (the policy issue covers it)
        for step in case["steps"]:
            for check in step["checks"]:
                if "service" in check:  # "destination" checks are names outside the cluster
                    result.append((case["id"], step["step"], check))
    return result or [("(corpus missing)", 0, {})]


def _kubectl_objects(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects a tutorial makes with kubectl, as its expectations describe them."""
    objects: list[dict[str, Any]] = []
    namespaces = dict(case.get("namespaces") or {})
    # Where the workloads are files, the Pods and Services described are theirs: not made twice.
    described = not (case.get("files") or {}).get("workloads")
    pods = list(case.get("pods") or []) if described else []
    services = list(case.get("services") or []) if described else []
    for entry in case.get("objects_from_kubectl") or []:
        command = entry["command"]
        words = command.split()
        namespace = next((w.split("=", 1)[1] for w in words if w.startswith("--namespace=")), "")
        if words[1:3] == ["create", "ns"]:
            namespaces.setdefault(words[3], {})
        elif words[1:3] == ["label", "namespace"]:
            key, value = words[4].split("=", 1)
            namespaces.setdefault(words[3], {})[key] = value
        elif words[1:3] == ["create", "deployment"]:
            name = words[4] if words[3].startswith("--") else words[3]
            pods.append({"namespace": namespace, "name": name, "labels": {"app": name}, "ports": [80]})
        elif words[1:3] == ["expose", "--namespace=" + namespace]:
            name = words[4]
            services.append({"namespace": namespace, "name": name, "selector": {"app": name}, "port": 80,
                             "targetPort": 80})
        elif words[1] == "run":
            name = words[3]
            pods.append({"namespace": namespace, "name": name, "labels": {"run": name}, "ports": []})
    if case.get("cluster_dns"):
        namespaces.setdefault("kube-system", {})
        pods.append({"namespace": "kube-system", "name": "coredns", "labels": {"k8s-app": "kube-dns"},
                     "ports": [53], "protocols": ["UDP", "TCP"]})
        services.append({"namespace": "kube-system", "name": "kube-dns", "selector": {"k8s-app": "kube-dns"},
                         "port": 53, "targetPort": 53, "protocols": ["UDP", "TCP"]})
    for name, labels in namespaces.items():
        objects.append({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": name, "labels": {**(labels or {}), "kubernetes.io/metadata.name": name}}})
    for index, pod in enumerate(pods):
        name = pod.get("name") or "-".join(f"{k}-{v}" for k, v in pod["labels"].items())
        protocols = pod.get("protocols", ["TCP"])
        objects.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": name, "namespace": pod["namespace"], "labels": pod["labels"]},
                        "spec": {"containers": [{"name": "c", "image": "example", "ports": [
                            {"containerPort": port, "protocol": protocol}
                            for port in pod.get("ports", []) for protocol in protocols]}]},
                        "status": {"phase": "Running", "podIP": f"10.244.0.{index + 10}",
                                   "conditions": [{"type": "Ready", "status": "True"}]}})
    for service in services:
        selector = service.get("selector") or next(
            p["labels"] for p in pods if p["namespace"] == service["namespace"]
            and any(port == service["targetPort"] for port in p.get("ports", [])))
        objects.append({"apiVersion": "v1", "kind": "Service",
                        "metadata": {"name": service["name"], "namespace": service["namespace"]},
                        "spec": {"selector": selector, "ports": [
                            {"name": f"port-{protocol.lower()}", "port": service["port"],
                             "targetPort": service["targetPort"], "protocol": protocol}
                            for protocol in service.get("protocols", ["TCP"])]}})
    return objects


def _policies(case: dict[str, Any], upto: int) -> list[dict[str, Any]]:
    folder = NETPOL / case["id"]
    result = []
    for step in case["steps"]:
        if step["step"] > upto:
            break
        for entry in step["policies"]:
            for document in yaml.safe_load_all((folder / entry["file"]).read_text()):
                if not document:
                    continue
                if entry.get("namespace"):
                    document.setdefault("metadata", {})["namespace"] = entry["namespace"]
                result.append(document)
    return result


def _write_case(case: dict[str, Any], step: int, tmp_path: Path) -> Path:
    folder = tmp_path / f"{case['id']}-{step}"
    folder.mkdir()
    for path in (case.get("files") or {}).get("workloads") or []:
        shutil.copy(NETPOL / case["id"] / path, folder / Path(path).name)
    documents = _kubectl_objects(case) + _policies(case, step)
    (folder / "objects.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return folder


def _client_pod(folder: Path, client: dict[str, Any]) -> str:
    """The Pod (or workload) of the client's namespace whose labels are the client's."""
    for path in sorted(folder.glob("*.y*ml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not isinstance(document, dict) or document.get("kind") not in ("Pod", "Deployment",
                                                                              "ReplicationController"):
                continue
            metadata = document.get("metadata") or {}
            namespace = metadata.get("namespace", "default")
            labels = metadata.get("labels") if document["kind"] == "Pod" else \
                (document["spec"]["template"].get("metadata") or {}).get("labels")
            if namespace == client["namespace"] and labels == client["labels"]:
                return f"{namespace}/{metadata['name']}"
    raise AssertionError(f"no Pod {client} in {folder}")


@pytest.mark.parametrize(("case_id", "step", "check"), _calico_checks(),
                         ids=lambda value: value if isinstance(value, str) else str(value) if isinstance(value, int)
                         else f"{value.get('client', {}).get('labels')}->{value.get('service')}" if value else "")
def test_documented_networkpolicy_outcome(case_id: str, step: int, check: dict[str, Any], tmp_path: Path) -> None:
    case = next(c for c in _expectations() if c["id"] == case_id)
    folder = _write_case(case, step, tmp_path)
    client = _client_pod(folder, check["client"])
    namespace, service = check["service"].split("/")
    result = run_cli("check", service, "-n", namespace, "--manifests", str(folder), "--from", client, "-o", "json")
    assert result.exit_code in (0, 1), result.stderr
    # One finding per Service port: "port 80/TCP" or "port dns (53/UDP)", before "(which arrives at …)".
    port = re.compile(rf"port (\S+ \()?{check['port']}/{check['protocol']}\b")
    denied = [f for f in result.json()["findings"] if f["id"] in ("SD601", "SD602") and f["severity"] == "error"
              and port.search(f["message"].split("(which arrives")[0])]
    assert bool(denied) == (not check["allowed"]), (check["quote"], [(f["id"], f["message"]) for f in denied])
    assert _reach_allows(folder, namespace, service, check) == check["allowed"], check["quote"]


def _reach_allows(folder: Path, namespace: str, service: str, check: dict[str, Any]) -> bool:
    """``reach``'s answer for the client and the Pods behind the Service, at the Pod port."""
    snapshot = ManifestsSource(str(folder)).load()
    clients = {f"{check['client']['namespace']}/{pod['metadata']['name']}"
               for pod in snapshot.pods_in(check["client"]["namespace"])
               if pod["metadata"].get("labels") == check["client"]["labels"]}
    service_object = snapshot.service(namespace, service)
    assert service_object is not None
    selector = from_service_selector(service_object["spec"]["selector"])
    backends = {f"{namespace}/{pod['metadata']['name']}" for pod in snapshot.select_pods(namespace, selector)}
    [target] = [p for p in service_object["spec"]["ports"]
                if p["port"] == check["port"] and p.get("protocol", "TCP") == check["protocol"]]
    result = run_cli("reach", "--manifests", str(folder), "-A", "--port",
                     f"{target['targetPort']}/{check['protocol']}", "-o", "json")
    assert result.exit_code == 0, result.stderr
    matrix = result.json()
    client_groups = {group["id"] for group in matrix["sources"] if clients & set(group["pods"])}
    backend_groups = {group["id"] for group in matrix["destinations"] if backends & set(group["pods"])}
    assert client_groups and backend_groups, (clients, backends)
    [port] = matrix["ports"]
    return not any(cell["from"] in client_groups and cell["to"] in backend_groups for cell in port["denied"])
