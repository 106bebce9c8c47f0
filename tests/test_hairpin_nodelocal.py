"""SD807 (hairpin) and SD703's NodeLocal DNSCache part on cases the scenarios do not show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from svcdoctor.testing.cluster import ClusterBuilder
from svcdoctor.testing.dnslab import add_cluster_dns, add_node_local_dns
from svcdoctor.testing.flannel import flannel
from tests.test_env_and_dual_stack import check_report, findings_of


def _step(report: dict[str, Any], number: int) -> dict[str, Any]:
    return next(s for s in report["steps"] if s["step"] == number)


# -- SD807 ----------------------------------------------------------------------------------------


def _chat(replicas: int = 1) -> tuple[ClusterBuilder, str]:
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("talk")
    b.node("node-a", "172.18.0.2")
    http = [{"name": "http", "containerPort": 8080}]
    pods = b.deployment("talk", "chat", {"app": "chat"}, [b.container("chat", "example/chat:2", http)],
                        replicas=replicas)
    b.service("talk", "chat", {"app": "chat"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    return b, f"talk/{pods[0]['metadata']['name']}"


def test_old_install_in_kube_system_with_hairpin_off_and_two_endpoints_is_a_warning(tmp_path: Path) -> None:
    b, client = _chat(replicas=2)
    b.namespace("kube-system")
    flannel(b, hairpin=False, namespace="kube-system")
    [finding] = findings_of(check_report(b.build(), tmp_path, "chat", "-n", "talk", "--from", client), "SD807")
    assert finding["severity"] == "warning" and '"hairpinMode": false' in finding["message"]
    assert "kube-system/kube-flannel-cfg" in finding["fix"]


def test_manifest_default_passes_step_8_part(tmp_path: Path) -> None:
    b, client = _chat()
    flannel(b, hairpin=True)
    report = check_report(b.build(), tmp_path, "chat", "-n", "talk", "--from", client)
    assert not findings_of(report, "SD807") and "SD807" in _step(report, 8)["checked"]


def test_kubelet_hairpin_mode_none(tmp_path: Path) -> None:
    b, client = _chat()
    b.add({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": b._meta("ConfigMap", "kube-system", "kubelet-config", None),
           "data": {"kubelet": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                               "hairpinMode: none\nclusterDomain: cluster.local\n"}})
    [finding] = findings_of(check_report(b.build(), tmp_path, "chat", "-n", "talk", "--from", client), "SD807")
    assert "hairpinMode: none" in finding["message"] and finding["severity"] == "error"


def test_calico_has_no_switch_and_an_unknown_cni_is_not_checked(tmp_path: Path) -> None:
    b, client = _chat()
    report = check_report(b.build(), tmp_path, "chat", "-n", "talk", "--from", client)
    assert not findings_of(report, "SD807") and "SD807" not in _step(report, 8)["checked"]
    assert "hairpin" in repr(_step(report, 8))
    b, client = _chat()
    b.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": b._meta("ConfigMap", "kube-system", "calico-config",
                                                                        None), "data": {"veth_mtu": "0"}})
    report = check_report(b.build(), tmp_path, "chat", "-n", "talk", "--from", client)
    assert "SD807" in _step(report, 8)["checked"]


def test_probes_show_the_hairpin_pattern(tmp_path: Path) -> None:
    b, client = _chat()
    objects = b.build()
    service = next(o for o in objects if o["kind"] == "Service")
    pod = next(o for o in objects if o["kind"] == "Pod")
    for ip, port, result in ((service["spec"]["clusterIP"], 80, "timeout"), (pod["status"]["podIP"], 8080, "open")):
        objects.append({"apiVersion": "svcdoctor.dev/v1", "kind": "ProbeResult", "from": client,
                        "to": {"ip": ip, "port": port, "protocol": "TCP"}, "result": result})
    [finding] = findings_of(check_report(objects, tmp_path, "chat", "-n", "talk", "--from", client), "SD807")
    assert "probes show it" in finding["message"]


def test_a_client_that_is_not_an_endpoint_is_not_about_hairpin(tmp_path: Path) -> None:
    b, _ = _chat()
    flannel(b, hairpin=False)
    [other] = b.deployment("talk", "bot", {"app": "bot"}, [b.container("bot", "example/bot:1")], replicas=1)
    report = check_report(b.build(), tmp_path, "chat", "-n", "talk", "--from", f"talk/{other['metadata']['name']}")
    assert not findings_of(report, "SD807")


# -- NodeLocal DNSCache (SD703) ----------------------------------------------------------------------


def _node_local(states: dict[str, str], dns_policy: str = "ClusterFirst") -> tuple[list[dict[str, Any]], str]:
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("kube-system")
    b.namespace("shop")
    b.node("node-a", "172.18.0.2")
    b.node("node-b", "172.18.0.3")
    add_cluster_dns(b, nodes=["node-a"])
    b.kube_proxy()
    add_node_local_dns(b, states)
    http = [{"name": "http", "containerPort": 8080}]
    b.deployment("shop", "backend", {"app": "backend"}, [b.container("backend", "example/backend:2", http)],
                 nodes=["node-a"])
    [client] = b.deployment("shop", "frontend", {"app": "frontend"}, [b.container("frontend", "example/f:1")],
                            replicas=1, nodes=["node-b"], extra_spec={"dnsPolicy": dns_policy})
    b.service("shop", "backend", {"app": "backend"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    return b.build(), f"shop/{client['metadata']['name']}"


def test_no_cache_pod_on_the_client_node(tmp_path: Path) -> None:
    objects, client = _node_local({"node-a": "running"})
    [finding] = findings_of(check_report(objects, tmp_path, "backend", "-n", "shop", "--from", client), "SD703")
    assert "no node-local-dns Pod runs there" in finding["message"] and "169.254.20.10" in finding["message"]


def test_a_broken_cache_elsewhere_does_not_concern_this_client(tmp_path: Path) -> None:
    objects, client = _node_local({"node-a": "crashloop", "node-b": "running"})
    assert not findings_of(check_report(objects, tmp_path, "backend", "-n", "shop", "--from", client), "SD703")


def test_a_client_on_the_node_resolver_does_not_use_the_cache(tmp_path: Path) -> None:
    objects, client = _node_local({"node-a": "running"}, dns_policy="Default")
    report = check_report(objects, tmp_path, "backend", "-n", "shop", "--from", client)
    assert not [f for f in findings_of(report, "SD703") if "NodeLocal" in f["message"]]
