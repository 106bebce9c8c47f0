"""Small problems from a new user's notes (../shared/feedback/new-user-2026-12.md), each fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from svcdoctor.serve.apiserver import ServerOptions, SnapshotAPIServer
from tests.conftest import ROOT, run_cli
from tests.test_naming import _ambiguous_cluster

DEMO = str(ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml")


def test_explain_takes_a_check_name_and_suggests_near_ones() -> None:
    by_name = run_cli("explain", "selector-matches-no-pods")
    assert by_name.exit_code == 0 and by_name.stdout.startswith("SD301 selector-matches-no-pods")
    typo = run_cli("explain", "selector-matches-no-pod")
    assert typo.exit_code == 2 and "did you mean selector-matches-no-pods" in typo.stderr
    assert typo.stderr.count("\n") == 1 and "SD101, SD2" not in typo.stderr  # not every ID on one line


def test_write_baseline_says_what_it_wrote(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    result = run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "--write-baseline", str(baseline))
    assert baseline.exists()
    assert f"svcdoctor: wrote 2 fingerprint(s) to {baseline}\n" in result.stderr


def test_recording_a_service_that_does_not_exist_warns(tmp_path: Path) -> None:
    with SnapshotAPIServer(_ambiguous_cluster()) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        result = run_cli("record", "nosuch", "-n", "shop", "-o", str(tmp_path / "f.yaml"), "--kubeconfig", config)
        assert "warning: no Service shop/nosuch in the cluster" in result.stderr
        fine = run_cli("record", "backend", "-n", "shop", "-o", str(tmp_path / "g.yaml"), "--kubeconfig", config)
        assert "warning" not in fine.stderr and fine.exit_code == 0


SCENARIOS = ROOT / "fixtures" / "scenarios"


def _report(scenario: str, *args: str) -> dict[str, Any]:
    result = run_cli(*args, "--snapshot", str(SCENARIOS / scenario / "snapshot.yaml"), "-o", "json")
    assert result.exit_code in (0, 1), result.stderr
    report: dict[str, Any] = result.json()
    return report


def _finding(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["id"] == check_id)


def test_selector_next_shows_the_labels_the_pods_carry_first() -> None:
    """The selector's own query returns nothing; the Pods' labels show the mismatch."""
    report = _report("selector-label-renamed", "check", "backend", "-n", "shop")
    assert _finding(report, "SD301")["next"][0] == "kubectl get pods -n shop --show-labels"


def test_a_crashing_pod_offers_its_previous_logs_first() -> None:
    finding = _finding(_report("crashloop-backend", "check", "orders", "-n", "shop"), "SD401")
    assert "--previous" in finding["next"][0] and finding["next"][0].startswith("kubectl logs ")


def test_missing_cluster_ip_rules_fix_does_not_send_to_a_finding_not_in_the_report() -> None:
    report = _report("cluster-ip-rules-missing", "check", "payments", "-n", "billing",
                     "--from", "billing/checkout-pcb5v58jn-4fzrw")
    assert "SD801" not in [f["id"] for f in report["findings"]]
    fix = _finding(report, "SD802")["fix"]
    assert "SD801" not in fix and "kubectl logs -n kube-system" in fix


def test_named_target_port_says_once_that_no_pod_has_it_and_names_the_template() -> None:
    """Manifests: the Pod is a stand-in, so the commands and counts are about the workload's template."""
    manifests = SCENARIOS / "manifests-helm-rendered-targetport-missing" / "manifests" / "rendered.yaml"
    result = run_cli("check", "storefront", "-n", "shop", "--manifests", str(manifests), "-o", "json")
    finding = _finding(result.json(), "SD202")
    assert finding["message"].lower().count("selected pod has it") == 1
    assert "Deployment shop/storefront (its Pod template, replicas: 2)" in finding["message"]
    assert not any("storefront-template" in command for command in finding["next"])
    assert any(command.startswith("kubectl get deployment storefront -n shop -o jsonpath='{range "
                                  ".spec.template.spec.containers[*]}") for command in finding["next"])


def test_dns_with_services_forbidden_says_what_could_not_be_read(tmp_path: Path) -> None:
    from tests.test_live import build_cluster

    with SnapshotAPIServer(build_cluster(), options=ServerOptions(forbid={"shop/services"})) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        result = run_cli("dns", "backend", "-n", "shop", "--kubeconfig", config)
    assert result.exit_code == 3 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("svcdoctor: error: could not list Services in namespace shop: forbidden")
    assert "kubectl auth can-i list services -n shop" in line and "no Service" not in line


def test_dns_takes_the_request_timeout(tmp_path: Path) -> None:
    from tests.test_live import build_cluster

    with SnapshotAPIServer(build_cluster(), options=ServerOptions(latency=3)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        result = run_cli("dns", "backend", "-n", "shop", "--kubeconfig", config, "--request-timeout", "200ms")
    assert result.exit_code == 3, result.stderr
    assert "did not answer within 0.2s" in result.stderr


def test_dns_lists_the_services_own_name_first_and_ptr_last() -> None:
    text = run_cli("dns", "backend", "-n", "shop", "--snapshot", DEMO).stdout
    assert text.splitlines()[0] == "; shop/backend in cluster.local (the default)"
    rows = [line for line in text.splitlines() if not line.startswith(";")]
    assert rows[0].startswith("backend.shop.svc.cluster.local. ")
    assert [row.split()[1] for row in rows] == ["A", "SRV", "PTR"]
    document = run_cli("dns", "backend", "-n", "shop", "--snapshot", DEMO, "-o", "json").json()
    assert [record["type"] for record in document["records"]] == ["A", "SRV", "PTR"]


def test_the_readme_says_how_to_build_and_load_the_image_the_job_runs() -> None:
    import yaml

    readme = (ROOT / "README.md").read_text()
    job = yaml.safe_load((ROOT / "deploy" / "job.yaml").read_text())
    image = job["spec"]["template"]["spec"]["containers"][0]["image"]
    assert f"docker build -t {image} -f deploy/Dockerfile ." in readme
    for load in (f"kind load docker-image {image}", f"minikube image load {image}", f"k3d image import {image}"):
        assert load in readme, load


def test_the_readme_demo_is_what_the_demo_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's first sample is the real output (the snapshot's path shortened as it shows it)."""
    import re

    monkeypatch.delenv("COLUMNS", raising=False)
    readme = (ROOT / "README.md").read_text()
    sample = readme.split("```console\n$ svcdoctor demo\n", 1)[1].split("```", 1)[0]
    printed = run_cli("demo").stdout
    printed = re.sub(r"^snapshot: .*/svcdoctor/data/", "snapshot: …/site-packages/svcdoctor/data/", printed,
                     flags=re.MULTILINE)
    assert sample == printed


STAND_INS = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: web, track: stable}}
  template:
    metadata: {labels: {app: web, track: stable}}
    spec: {containers: [{name: web, image: example/web:1, ports: [{containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: admin, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web, track: admin}}
  template:
    metadata: {labels: {app: web, track: admin}}
    spec: {containers: [{name: admin, image: example/admin:1, ports: [{containerPort: 8080}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]
"""


def test_manifests_count_replicas_not_the_pods_made_from_templates(tmp_path: Path) -> None:
    manifests = tmp_path / "all.yaml"
    manifests.write_text(STAND_INS)
    report = run_cli("check", "web", "-n", "shop", "--manifests", str(manifests), "-o", "json").json()
    several = _finding(report, "SD302")["message"]
    assert "Deployment shop/web (its Pod template, replicas: 3, image example/web)" in several
    assert "(1 Pod" not in several
    who = _finding(report, "SD605")["message"]
    assert "(2 Pods made from the input's templates)" in who and "now)" not in who


def test_dns_text_and_json_say_the_same_srv_data() -> None:
    text = run_cli("dns", "backend", "-n", "shop", "--snapshot", DEMO).stdout
    document = run_cli("dns", "backend", "-n", "shop", "--snapshot", DEMO, "-o", "json").json()
    rows = [line.split(None, 2) for line in text.splitlines() if not line.startswith(";")]
    assert rows == [[r["name"], r["type"], r["data"]] for r in document["records"]]
    assert "SRV" in [r["type"] for r in document["records"]]
