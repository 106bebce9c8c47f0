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


# -- before deploy (--manifests) -------------------------------------------------------------------


def _manifests_report(tmp_path: Path, documents: list[dict[str, Any]], *args: str) -> dict[str, Any]:
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    result = run_cli("check", *args, "--manifests", str(path), "-o", "json")
    assert result.exit_code in (0, 1), result.stderr
    return result.json()  # type: ignore[no-any-return]


def _service(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "orders", "namespace": "shop"},
            "spec": {"selector": {"app": "orders"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                     **spec}}


def _deployment(name: str, namespace: str = "shop", **pod_spec: Any) -> dict[str, Any]:
    container = {"name": name, "image": f"example/{name}:1", "ports": [{"containerPort": 8080}]}
    container.update(pod_spec.pop("container", {}))
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}}, "spec": {"containers": [container], **pod_spec}}}}


@pytest.mark.parametrize(("spec", "said"), [
    ({"ipFamilies": ["IPv4", "IPv6"]}, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families"),
    ({"ipFamilyPolicy": "SingleStack", "clusterIP": "10.96.0.7", "clusterIPs": ["10.96.0.7", "fd00::7"]},
     "when multiple cluster IPs"),
    ({"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv6", "IPv6"]}, "IPv6 is listed twice"),
    ({"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv6", "IPv4"], "clusterIP": "10.96.0.7",
      "clusterIPs": ["10.96.0.7", "fd00::7"]}, "10.96.0.7 is not IPv6"),
    ({"type": "ExternalName", "externalName": "orders.example.com", "ipFamilyPolicy": "SingleStack"},
     "spec.ipFamilyPolicy may not be set for type ExternalName"),
], ids=["families-without-policy", "two-cluster-ips-single-stack", "duplicate", "order", "external-name"])
def test_family_settings_the_api_server_refuses_are_said_before_deploy(spec: dict[str, Any], said: str,
                                                                       tmp_path: Path) -> None:
    report = _manifests_report(tmp_path, [_service(**spec), _deployment("orders")], "orders", "-n", "shop")
    [finding] = findings_of(report, "SD217")
    assert finding["severity"] == "error" and said in finding["message"]


def test_a_valid_dual_stack_service_before_deploy_leaves_the_runtime_part_not_checked(tmp_path: Path) -> None:
    report = _manifests_report(tmp_path, [_service(ipFamilyPolicy="PreferDualStack", ipFamilies=["IPv4", "IPv6"]),
                                          _deployment("orders")], "orders", "-n", "shop")
    assert not findings_of(report, "SD217")
    step = next(s for s in report["steps"] if s["step"] == 2)
    assert any("SD217" in item["checks"] and "exist only in a running cluster" in item["what"]
               for item in step["missing"])


def test_every_template_is_a_client_of_the_variables_before_deploy(tmp_path: Path) -> None:
    reads = {"container": {"env": [{"name": "ORDERS", "value": "$(ORDERS_SERVICE_HOST)"}]}}
    documents = [_service(), _deployment("orders"), _deployment("billing", **reads),
                 _deployment("reports", namespace="ops", **reads)]
    report = _manifests_report(tmp_path, [*documents, {"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": "ops"}}], "orders", "-n", "shop")
    [finding] = findings_of(report, "SD706")
    assert finding["message"].startswith("The Pod template of Deployment ops/reports")
    assert "only for Services of the Pod's own namespace" in finding["message"]
    # The billing template, in the Service's namespace with service links on, is fine as far as a
    # static run can tell: when its containers start is not known before deploy.
    report = _manifests_report(tmp_path, documents[:3], "orders", "-n", "shop")
    step = next(s for s in report["steps"] if s["step"] == 7)
    assert not findings_of(report, "SD706") and step["status"] == "partial"
    assert any("SD706" in item["checks"] and "startedAt" in item["what"] for item in step["missing"])


def test_no_template_reading_the_variables_leaves_step_7_skipped(tmp_path: Path) -> None:
    report = _manifests_report(tmp_path, [_service(), _deployment("orders")], "orders", "-n", "shop")
    assert next(s for s in report["steps"] if s["step"] == 7)["status"] == "skipped"


def test_without_a_client_a_running_cluster_is_not_checked_for_the_variables(tmp_path: Path) -> None:
    objects, _ = _env_cluster(env=[{"name": "L", "value": "$(LEDGER_API_SERVICE_HOST)"}])
    report = check_report(objects, tmp_path, "ledger-api", "-n", "bank")
    step = next(s for s in report["steps"] if s["step"] == 7)
    assert any("SD706" in item["checks"] and item["what"] == "no client" for item in step["missing"])


def _ipv6_reporter(tmp_path: Path, *, with_answers: bool) -> tuple[list[dict[str, Any]], str]:
    b, _ = _dual_cluster(True)
    b.node("node-c", "fd00:18::4")
    reporter = b.pod("shop", "reporter-58d5c8b7f-2kzqn", {"app": "reporter"},
                     [b.container("reporter", "example/reporter:1.0")], node="node-c", host_network=True,
                     ip="fd00:18::4", dns_policy="ClusterFirstWithHostNet")
    client = f"shop/{reporter['metadata']['name']}"
    if with_answers:
        # What the reporter's resolver was told: the name exists (NOERROR) but has no AAAA record.
        b.add({"apiVersion": "svcdoctor.dev/v1", "kind": "DNSAnswer", "from": client, "rcode": "NOERROR",
               "query": {"name": "orders.shop.svc.cluster.local", "type": "AAAA"}, "answers": []})
    return b.build(reconcile=False), client


def test_dns_answers_show_which_pod_cannot_use_a_single_family_service(tmp_path: Path) -> None:
    """Without --from, the Pod the recorded answers were asked from is the client: IPv6-only, its AAAA
    query for the IPv4-only Service got no address."""
    objects, client = _ipv6_reporter(tmp_path, with_answers=True)
    [finding] = findings_of(check_report(objects, tmp_path, "orders", "-n", "shop"), "SD217")
    assert finding["severity"] == "warning" and f"The client {client} has only IPv6" in finding["message"]
    assert "Its AAAA queries for the name got NOERROR, no address" in finding["message"]
    assert any(e.get("field") == "DNSAnswer" for e in finding["evidence"])
    objects, _ = _ipv6_reporter(tmp_path, with_answers=False)
    assert not findings_of(check_report(objects, tmp_path, "orders", "-n", "shop"), "SD217")


def test_the_given_clients_answers_are_quoted(tmp_path: Path) -> None:
    objects, client = _ipv6_reporter(tmp_path, with_answers=True)
    [finding] = findings_of(check_report(objects, tmp_path, "orders", "-n", "shop", "--from", client), "SD217")
    assert finding["severity"] == "error" and "Its AAAA queries for the name got NOERROR, no address" in \
        finding["message"]
