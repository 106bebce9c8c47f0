"""Step 8's checks on cases the scenarios do not show: not-ready endpoints still programmed,
kube-proxy missing without a replacement, Local traffic policy drops that are intended."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from svcdoctor.endpoints import service_endpoints
from svcdoctor.snapshot import build_snapshot
from svcdoctor.testing.cluster import ClusterBuilder
from svcdoctor.testing.kubeproxy import as_iptables_save, iptables_rules, proxy_inputs
from tests.conftest import run_cli


def _report(objects: list[dict[str, Any]], tmp_path: Any, *args: str) -> dict[str, Any]:
    import yaml

    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    result = run_cli("check", *args, "--snapshot", str(path), "-o", "json")
    return result.json()  # type: ignore[no-any-return]


def _cluster(**service: Any) -> tuple[ClusterBuilder, list[dict[str, Any]]]:
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("app")
    b.node("node-a", "172.18.0.2")
    b.node("node-b", "172.18.0.3")
    b.kube_proxy()
    http = [{"name": "http", "containerPort": 8080}]
    b.deployment("app", "api", {"app": "api"}, [b.container("api", "example/api:1", http)], replicas=2,
                 states=["running", "notready"], nodes=["node-b"])
    b.service("app", "api", {"app": "api"}, [{"name": "http", "port": 80, "targetPort": "http"}], **service)
    return b, b.build()


def test_not_ready_endpoint_still_in_the_rules_is_extra(tmp_path: Any) -> None:
    b, objects = _cluster()
    endpoints = service_endpoints(build_snapshot(objects), "app", "api")
    assert sorted(endpoint.ready for endpoint in endpoints) == [False, True]
    # kube-proxy on node-a still sends to the Pod that stopped being ready.
    believed = [replace(endpoint, ready=True) for endpoint in endpoints]
    b.node_dump("node-a", "iptables", iptablesSave=as_iptables_save(iptables_rules(
        proxy_inputs(objects, {("app", "api"): believed}), node="node-a", cluster_cidr="10.244.0.0/16")))
    report = _report(objects, tmp_path, "api", "-n", "app")
    sd803 = [finding for finding in report["findings"] if finding["id"] == "SD803"]
    assert len(sd803) == 1
    assert "not ready (extra)" in sd803[0]["message"] and "50%" in sd803[0]["message"]
    assert report["verdict"] == "degraded"


def test_kube_proxy_missing_without_a_replacement(tmp_path: Any) -> None:
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("app")
    b.node("node-a", "172.18.0.2")
    b.deployment("kube-system", "coredns", {"k8s-app": "kube-dns"},
                 [b.container("coredns", "registry.k8s.io/coredns/coredns:v1.11.3", [])], replicas=1)
    # kube-system's DaemonSets were recorded (the CNI's is there), and none is kube-proxy.
    b.add({"apiVersion": "apps/v1", "kind": "DaemonSet",
           "metadata": {"name": "kindnet", "namespace": "kube-system", "uid": "0d1f4a52-kindnet",
                        "labels": {"app": "kindnet"}},
           "spec": {"selector": {"matchLabels": {"app": "kindnet"}},
                    "template": {"metadata": {"labels": {"app": "kindnet"}},
                                 "spec": {"containers": [{"name": "kindnet-cni",
                                                          "image": "docker.io/kindest/kindnetd:v20241108"}]}}},
           "status": {"desiredNumberScheduled": 1, "numberReady": 1, "currentNumberScheduled": 1}})
    b.deployment("app", "api", {"app": "api"}, [b.container("api", "example/api:1", [])], replicas=1)
    b.service("app", "api", {"app": "api"}, [{"name": "http", "port": 80, "targetPort": 8080}])
    report = _report(b.build(), tmp_path, "api", "-n", "app")
    (sd801,) = [finding for finding in report["findings"] if finding["id"] == "SD801"]
    assert sd801["severity"] == "error" and "no kube-proxy DaemonSet" in sd801["message"]


def test_local_policy_drop_is_intended_not_missing(tmp_path: Any) -> None:
    b, objects = _cluster(type="NodePort", externalTrafficPolicy="Local")
    # node-a has no endpoint of api: kube-proxy drops NodePort traffic there on purpose.
    b.node_dump("node-a", "iptables", iptablesSave=as_iptables_save(iptables_rules(
        proxy_inputs(objects), node="node-a", cluster_cidr="10.244.0.0/16")))
    report = _report(objects, tmp_path, "api", "-n", "app")
    ids = [finding["id"] for finding in report["findings"]]
    assert not {"SD802", "SD803", "SD804", "SD805"} & set(ids), report["findings"]


def test_no_kube_system_daemon_sets_recorded_is_not_a_missing_kube_proxy(tmp_path: Any) -> None:
    # A snapshot holding only CoreDNS from kube-system says nothing about kube-proxy: no false alarm.
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("app")
    b.node("node-a", "172.18.0.2")
    b.deployment("kube-system", "coredns", {"k8s-app": "kube-dns"},
                 [b.container("coredns", "registry.k8s.io/coredns/coredns:v1.11.3", [])], replicas=1)
    b.deployment("app", "api", {"app": "api"}, [b.container("api", "example/api:1", [])], replicas=1)
    b.service("app", "api", {"app": "api"}, [{"name": "http", "port": 80, "targetPort": 8080}])
    report = _report(b.build(), tmp_path, "api", "-n", "app")
    assert "SD801" not in [finding["id"] for finding in report["findings"]]
    assert {step["step"]: step["status"] for step in report["steps"]}[8] == "skipped"


def test_a_dump_line_that_could_not_be_read_makes_step_8_unknown_and_is_quoted(tmp_path: Any) -> None:
    b, objects = _cluster()
    text = as_iptables_save(iptables_rules(proxy_inputs(objects), node="node-a", cluster_cidr="10.244.0.0/16"))
    # The endpoint's DNAT rule is garbled: the port is not a number, so the rule cannot be read.
    # The traced packet reaches it: nothing can be concluded, and no finding is made of it.
    garbled = "\n".join(line.replace(":8080", ":80x80") if "--to-destination" in line else line
                        for line in text.splitlines())
    assert garbled != text
    b.node_dump("node-a", "iptables", iptablesSave=garbled)
    report = _report(b.build(), tmp_path, "api", "-n", "app")
    assert not [finding for finding in report["findings"] if finding["id"].startswith("SD80")], report["findings"]
    (step8,) = [step for step in report["steps"] if step["step"] == 8]
    assert step8["status"] == "unknown"
    assert "80x80" in step8["reason"] and "node-a" in step8["reason"]
    assert report["verdict"] != "ok"


def test_a_dump_without_any_kube_proxy_rule_is_unknown_not_pass(tmp_path: Any) -> None:
    b, _ = _cluster()
    # A host firewall only: whatever kube-proxy does on node-a, this dump cannot say.
    b.node_dump("node-a", "iptables", iptablesSave="*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
                ":OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n")
    report = _report(b.build(), tmp_path, "api", "-n", "app")
    (step8,) = [step for step in report["steps"] if step["step"] == 8]
    assert step8["status"] == "unknown" and "no kube-proxy rules" in step8["reason"]
