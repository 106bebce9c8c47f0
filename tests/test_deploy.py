"""``deploy/watch.yaml`` and ``deploy/Dockerfile``, checked without a cluster and without building an image.

Core kinds are validated (strictly: unknown fields fail) against the Kubernetes OpenAPI schemas
with ``kubernetes-validate``; the PrometheusRule's rules with ``promtool check rules`` and its
alerts with ``promtool test rules`` (Debian's ``prometheus`` package); the ClusterRole against
what ``svcdoctor watch`` follows; the Dockerfile's install steps by running them on a copy of
exactly the files it COPYs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, require

WATCH_YAML = ROOT / "deploy" / "watch.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
CORE_KINDS = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment",
              "Service")


def documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(WATCH_YAML.read_text()) if doc]


def one(kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents() if doc["kind"] == kind]
    return found


def test_core_kinds_validate_against_the_kubernetes_schemas() -> None:
    import kubernetes_validate

    kinds = [doc["kind"] for doc in documents()]
    assert set(CORE_KINDS) <= set(kinds)
    for doc in documents():
        if doc["kind"] in CORE_KINDS:
            kubernetes_validate.validate(doc, "1.32.0", strict=True)
    broken = one("Deployment")
    broken["spec"]["template"]["spec"]["containers"][0]["argz"] = ["watch"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.32.0", strict=True)


def _grants(kind: str) -> dict[tuple[str, str, str], set[str]]:
    """(group, resource, name or "") → verbs, of the one ``kind`` (ClusterRole, Role)."""
    return {(group, resource, name): set(rule["verbs"]) for rule in one(kind)["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for name in rule.get("resourceNames", [""])}


def test_the_cluster_role_and_role_grant_exactly_what_watch_follows() -> None:
    from svcdoctor.watch.loop import resources_for

    cluster, system = _grants("ClusterRole"), _grants("Role")
    role_namespace = one("Role")["metadata"]["namespace"]
    used: set[tuple[str, tuple[str, str, str]]] = set()
    for watched in (None, "shop"):
        for resource, namespace, name in resources_for(watched):
            key = (resource.group, resource.plural, name)
            if key in cluster:
                used.add(("ClusterRole", key))
            else:
                assert namespace == role_namespace and key in system, (key, namespace)
                used.add(("Role", key))
    assert used == {("ClusterRole", key) for key in cluster} | {("Role", key) for key in system}
    assert all(verbs == {"list", "watch"} for verbs in (*cluster.values(), *system.values()))
    assert not any(resource == "secrets" for _, resource, _ in (*cluster, *system))


def test_the_deployment_service_and_service_monitor_agree() -> None:
    from svcdoctor.cli.watch import parse_listen

    container = one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[0] == "watch"
    host, port = parse_listen(args[args.index("--listen") + 1])
    assert host == "0.0.0.0"
    (container_port,) = container["ports"]
    assert container_port["containerPort"] == port
    service = one("Service")
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(key) == value for key, value in service["spec"]["selector"].items())
    assert service["spec"]["ports"][0]["targetPort"] == container_port["name"]
    monitor = one("ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert {container["livenessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["path"]} == \
        {"/healthz", "/readyz"}
    assert one("ClusterRoleBinding")["subjects"][0]["name"] == \
        one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"]


def _promtool() -> str:
    found = shutil.which("promtool")
    require(found is not None, "promtool is not installed (Debian: apt-get install prometheus)")
    assert found is not None
    return found


def _rules_file(tmp_path: Path) -> Path:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(one("PrometheusRule")["spec"]))
    return rules


def test_the_alert_rules_pass_promtool_check_rules(tmp_path: Path) -> None:
    promtool = _promtool()
    result = subprocess.run([promtool, "check", "rules", str(_rules_file(tmp_path))], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


UNIT_TEST = """
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'svcdoctor_service_verdict{namespace="shop",service="frontend",verdict="unreachable"}'
        values: '1x10'
      - series: 'svcdoctor_service_root_cause{namespace="shop",service="frontend",id="SD301",severity="error"}'
        values: '1x10'
      - series: 'svcdoctor_service_verdict{namespace="shop",service="cart",verdict="unreachable"}'
        values: '0x10'
      - series: 'svcdoctor_watch_services'
        values: '2x10'
    alert_rule_test:
      - eval_time: 4m
        alertname: SvcdoctorServiceUnreachable
        exp_alerts: []
      - eval_time: 6m
        alertname: SvcdoctorServiceUnreachable
        exp_alerts:
          - exp_labels: {severity: critical, namespace: shop, service: frontend, verdict: unreachable}
            exp_annotations:
              summary: "Service shop/frontend has been unreachable for 5 minutes"
              description: >-
                svcdoctor finds shop/frontend unreachable. Root cause: SD301 (error);
                see `svcdoctor explain SD301`. Full report: `svcdoctor check frontend -n shop`.
      - eval_time: 10m
        alertname: SvcdoctorWatchDown
        exp_alerts: []
  - interval: 1m
    input_series:
      - series: 'svcdoctor_watch_up'
        values: '1 1 0x10'
    alert_rule_test:
      - eval_time: 5m
        alertname: SvcdoctorWatchStale
        exp_alerts: []
      - eval_time: 8m
        alertname: SvcdoctorWatchStale
        exp_alerts:
          - exp_labels: {severity: warning}
            exp_annotations:
              summary: "svcdoctor watch has lost the API server: its verdicts are stale"
              description: >-
                Its watch streams have failed for 5 minutes; every svcdoctor_service_* series is from before
                (kept, not current). See the JSON line {"event": "api", "state": "lost"} in the logs of
                deploy/svcdoctor-watch, or its /readyz.
"""


def test_unreachable_for_5_minutes_alerts_with_the_root_cause_and_the_explain_command(tmp_path: Path) -> None:
    promtool = _promtool()
    _rules_file(tmp_path)
    (tmp_path / "test.yaml").write_text(UNIT_TEST)
    result = subprocess.run([promtool, "test", "rules", "test.yaml"], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_install_steps_work_on_exactly_the_files_it_copies(tmp_path: Path) -> None:
    """Without building an image: copy what the Dockerfile COPYs, run its pip install into a target, run it."""
    copies: list[tuple[list[str], str]] = []
    installs: list[str] = []
    entrypoint: list[str] = []
    for line in DOCKERFILE.read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "COPY":
            copies.append((words[1:-1], words[-1]))
        elif words[0] == "RUN":
            installs.append(" ".join(words[1:]))
        elif words[0] == "ENTRYPOINT":
            entrypoint = yaml.safe_load(line.split(None, 1)[1])
    root = tmp_path / "image"
    for sources, destination in copies:
        target = root / destination.lstrip("/")
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"the Dockerfile copies {source}, which is not in the repository"
            if path.is_dir():
                shutil.copytree(path, target / path.name if destination.endswith("/") else target,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target / path.name)
    (install,) = [command for command in installs if "pip install" in command]
    assert install.startswith("pip install --no-cache-dir /src"), install
    installed = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet",
                             "--target", str(installed), str(root / "src")], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert (installed / "svcdoctor" / "watch" / "loop.py").is_file()
    assert any((installed / "svcdoctor" / "data").iterdir()), "package data missing from the install"
    assert entrypoint == ["svcdoctor"]
    script = (installed / "bin" / "svcdoctor").read_text()
    assert "svcdoctor.cli" in script
    # The installed copy runs, not this checkout: only the installed tree is on the path.
    probe = subprocess.run([sys.executable, "-c", "import svcdoctor, sys; print(svcdoctor.__file__); "
                            "from svcdoctor.cli import run; sys.exit(run(['watch', '--help']))"],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path,
                           env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith(str(installed)), probe.stdout
    assert "--listen" in probe.stdout
