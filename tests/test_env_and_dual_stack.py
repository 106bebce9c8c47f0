"""SD706 (discovery by environment variables) and SD217 (dual-stack) on cases the scenarios do
not show, and what redaction and minimal recordings keep of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from svcdoctor.minimal import minimal
from svcdoctor.redact import Redactor
from svcdoctor.sources.files import load_objects
from svcdoctor.testing.cluster import ClusterBuilder
from tests.conftest import run_cli

SCENARIOS = Path(__file__).resolve().parent.parent / "fixtures" / "scenarios"


def check_report(objects: list[dict[str, Any]], tmp_path: Path, *args: str) -> dict[str, Any]:
    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    result = run_cli("check", *args, "--snapshot", str(path), "-o", "json")
    assert result.exit_code in (0, 1, 4), result.stderr
    return result.json()  # type: ignore[no-any-return]


def findings_of(report: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["id"] == check]


# -- SD706 ------------------------------------------------------------------------------------------


def _env_cluster(*, client_namespace: str = "bank", service_age: float | None = None, links: bool = True,
                 **container: Any) -> tuple[list[dict[str, Any]], str]:
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("bank")
    b.namespace("ops")
    b.node("node-a", "172.18.0.2")
    http = [{"name": "http", "containerPort": 8080}]
    b.deployment("bank", "ledger-api", {"app": "ledger"}, [b.container("ledger", "example/ledger:3", http)],
                 replicas=1)
    extra = None if links else {"enableServiceLinks": False}
    [client] = b.deployment(client_namespace, "worker", {"app": "worker"},
                            [b.container("worker", "example/worker:1", **container)], replicas=1, extra_spec=extra)
    service = b.service("bank", "ledger-api", {"app": "ledger"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    if service_age is not None:
        service["metadata"]["creationTimestamp"] = b.time(service_age)
    return b.build(), f"{client_namespace}/{client['metadata']['name']}"


@pytest.mark.parametrize("container", [
    {"env": [{"name": "LEDGER", "value": "$(LEDGER_API_SERVICE_HOST):$(LEDGER_API_SERVICE_PORT_HTTP)"}]},
    {"command": ["sh", "-c", "exec worker --ledger=${LEDGER_API_SERVICE_HOST}"]},
    {"args": ["--ledger", "tcp://$LEDGER_API_PORT_80_TCP_ADDR:80"]},
], ids=["env-reference", "shell-braces", "docker-link"])
def test_service_younger_than_the_container_fires(container: dict[str, Any], tmp_path: Path) -> None:
    objects, client = _env_cluster(service_age=10, **container)
    [finding] = findings_of(check_report(objects, tmp_path, "ledger-api", "-n", "bank", "--from", client), "SD706")
    assert finding["severity"] == "error" and "before the Service was created" in finding["message"]


def test_service_older_than_the_container_is_fine(tmp_path: Path) -> None:
    objects, client = _env_cluster(env=[{"name": "L", "value": "$(LEDGER_API_SERVICE_HOST)"}])
    report = check_report(objects, tmp_path, "ledger-api", "-n", "bank", "--from", client)
    assert not findings_of(report, "SD706")
    assert any("SD706" in step.get("checked", []) for step in report["steps"] if step["step"] == 7)


def test_service_links_off(tmp_path: Path) -> None:
    objects, client = _env_cluster(links=False, env=[{"name": "L", "value": "$(LEDGER_API_SERVICE_HOST)"}])
    [finding] = findings_of(check_report(objects, tmp_path, "ledger-api", "-n", "bank", "--from", client), "SD706")
    assert "enableServiceLinks: false" in finding["message"]


def test_client_in_another_namespace(tmp_path: Path) -> None:
    objects, client = _env_cluster(client_namespace="ops", env=[{"name": "L", "value": "$(LEDGER_API_SERVICE_HOST)"}])
    [finding] = findings_of(check_report(objects, tmp_path, "ledger-api", "-n", "bank", "--from", client), "SD706")
    assert "own namespace (ops)" in finding["message"]


def test_a_variable_the_container_sets_itself_is_not_the_kubelets(tmp_path: Path) -> None:
    objects, client = _env_cluster(service_age=10, env=[
        {"name": "LEDGER_API_SERVICE_HOST", "value": "ledger-api.bank.svc"},
        {"name": "L", "value": "$(LEDGER_API_SERVICE_HOST)"}])
    assert not findings_of(check_report(objects, tmp_path, "ledger-api", "-n", "bank", "--from", client), "SD706")


def test_names_that_merely_contain_the_prefix_do_not_count(tmp_path: Path) -> None:
    objects, client = _env_cluster(service_age=10, env=[{"name": "L", "value": "$(OLD_LEDGER_API_SERVICE_HOST)"}])
    assert not findings_of(check_report(objects, tmp_path, "ledger-api", "-n", "bank", "--from", client), "SD706")


def test_redaction_renames_the_variables_with_the_service() -> None:
    redactor = Redactor(b"k" * 16)
    assert redactor.name("ledger-api") == "name-1"
    assert redactor.text("http://$(LEDGER_API_SERVICE_HOST):$(LEDGER_API_SERVICE_PORT)") == \
        "http://$(NAME_1_SERVICE_HOST):$(NAME_1_SERVICE_PORT)"
    assert redactor.variable("LEDGER_API_PORT_80_TCP_ADDR") == "NAME_1_PORT_80_TCP_ADDR"
    assert redactor.variable("SECRET_SAUCE_SERVICE_HOST") == "X_SERVICE_HOST"
    assert redactor.variable("LOG_LEVEL") == "LOG_LEVEL"


@pytest.mark.parametrize("name", ["cilium-service-map-stale-backend", "service-env-vars-before-service",
                                  "healthy-service-env-vars", "hairpin-flannel-disabled",
                                  "nodelocal-dns-cache-down-on-client-node",
                                  "dual-stack-ipv6-client-ipv4-service", "dual-stack-service-pods-ipv4-only"])
def test_minimal_recording_keeps_the_verdict(name: str, tmp_path: Path) -> None:
    folder = SCENARIOS / name
    args = [str(a) for a in yaml.safe_load((folder / "scenario.yaml").read_text())["args"]]
    small = tmp_path / "minimal.yaml"
    small.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List",
                                     "items": minimal([dict(o) for o in load_objects(str(folder / "snapshot.yaml"))])}))
    original = run_cli(*args, "--snapshot", str(folder / "snapshot.yaml"), "-o", "json").json()
    after = run_cli(*args, "--snapshot", str(small), "-o", "json").json()
    assert [f["id"] for f in after["findings"]] == [f["id"] for f in original["findings"]]
    assert after["verdict"] == original["verdict"]


# -- SD217 ------------------------------------------------------------------------------------------


def _dual_cluster(pods_dual: bool, **service: Any) -> tuple[ClusterBuilder, list[dict[str, Any]]]:
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("shop")
    b.dual_stack(b.node("node-a", "172.18.0.2"), "fd00:18::2")
    http = [{"name": "http", "containerPort": 8080}]
    for pod in b.deployment("shop", "orders", {"app": "orders"}, [b.container("o", "example/o:1", http)], replicas=2):
        if pods_dual:
            b.dual_stack(pod)
    b.service("shop", "orders", {"app": "orders"}, [{"name": "http", "port": 80, "targetPort": "http"}], **service)
    return b, b.build()


def test_ipv6_only_service_with_ipv4_pods(tmp_path: Path) -> None:
    _, objects = _dual_cluster(False, clusterIP="fd00:10:96::a", clusterIPs=["fd00:10:96::a"], ipFamilies=["IPv6"])
    [finding] = findings_of(check_report(objects, tmp_path, "orders", "-n", "shop"), "SD217")
    assert finding["severity"] == "warning" and "IPv6 ClusterIP has no ready endpoint" in finding["message"]


def test_outside_ipv4_client_of_a_dual_stack_service_is_fine(tmp_path: Path) -> None:
    _, objects = _dual_cluster(True, clusterIP="10.96.0.9", clusterIPs=["10.96.0.9", "fd00:10:96::a"],
                               ipFamilies=["IPv4", "IPv6"], ipFamilyPolicy="RequireDualStack")
    assert not findings_of(check_report(objects, tmp_path, "orders", "-n", "shop", "--from-ip", "192.0.2.7"), "SD217")


def test_ipv6_outside_client_of_an_ipv4_service(tmp_path: Path) -> None:
    _, objects = _dual_cluster(True)
    report = check_report(objects, tmp_path, "orders", "-n", "shop", "--from-ip", "2001:db8::7")
    [finding] = findings_of(report, "SD217")
    assert finding["severity"] == "error" and "only IPv6 addresses" in finding["message"]


def test_prefer_dual_stack_that_got_one_family_is_info(tmp_path: Path) -> None:
    _, objects = _dual_cluster(True, ipFamilyPolicy="PreferDualStack")
    [finding] = findings_of(check_report(objects, tmp_path, "orders", "-n", "shop"), "SD217")
    assert finding["severity"] == "info"


def test_the_endpoint_slice_controller_writes_a_slice_per_family() -> None:
    _, objects = _dual_cluster(True, clusterIP="10.96.0.9", clusterIPs=["10.96.0.9", "fd00:10:96::a"],
                               ipFamilies=["IPv4", "IPv6"], ipFamilyPolicy="RequireDualStack")
    slices = {o["addressType"]: o for o in objects if o["kind"] == "EndpointSlice"}
    assert set(slices) == {"IPv4", "IPv6"}
    assert all(":" in e["addresses"][0] for e in slices["IPv6"]["endpoints"])
    assert all(":" not in e["addresses"][0] for e in slices["IPv4"]["endpoints"])
