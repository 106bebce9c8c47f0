"""Cilium's service list: the parser on the real-world pastes and on each release's format, and
SD806 on cases the scenarios do not show (held-back backends, missing frontends, cut lists,
LocalRedirect, terminating Pods), plus the flags that bring the list in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from svcdoctor.dataplane import cilium
from svcdoctor.testing.ciliumlist import cilium_cluster, service_list
from svcdoctor.testing.cluster import ClusterBuilder
from tests.conftest import run_cli

NODEDUMPS = Path(__file__).resolve().parent.parent.parent / "shared" / "realworld-dev" / "nodedumps"


# -- the parser ---------------------------------------------------------------------------------


def test_real_world_pastes() -> None:
    nodeport = cilium.parse((NODEDUMPS / "cilium-docs-2020-kubeproxy-free-nodeport.service-list.txt").read_text())
    assert nodeport.partial and not nodeport.problems
    assert [(str(f.address), f.type, len(f.backends)) for f in nodeport.frontends] == [
        ("10.104.239.135:80", "ClusterIP", 2), ("0.0.0.0:31940", "NodePort", 2),
        ("192.168.178.29:31940", "NodePort", 2), ("172.16.0.29:31940", "NodePort", 2)]
    assert {str(b.address) for b in nodeport.frontends[0].backends} == {"10.217.0.107:80", "10.217.0.149:80"}
    assert [f.id for f in nodeport.at("10.104.239.135", 80, "TCP")] == [4]
    assert {f.id for f in nodeport.at("10.0.0.9", 31940, "TCP")} == {5}  # 0.0.0.0 stands for every address

    before = cilium.parse((NODEDUMPS / "cilium-docs-2020-lrp-before.service-list.txt").read_text())
    after = cilium.parse((NODEDUMPS / "cilium-docs-2020-lrp-after.service-list.txt").read_text())
    assert [(f.type, f.backends) for f in before.frontends] == [("ClusterIP", ())]
    assert [(f.type, str(f.backends[0].address)) for f in after.frontends] == [("LocalRedirect", "10.16.70.187:80")]

    old = cilium.parse((NODEDUMPS / "cilium-issue2053-2017.service-list.txt").read_text())
    assert [f.id for f in old.frontends] == [1, 2, 3, 5, 9] and {f.type for f in old.frontends} == {""}
    assert old.at("100.66.223.91", 9092, "TCP")[0].backends == ()
    assert len(old.problems) == 1 and old.problems[0].startswith("line 9: error parsing frontend")


# Written for these tests in the shapes public pastes of each release show (addresses are ours).
CILIUM_1_14 = """\
ID   Frontend            Service Type   Backend
1    10.96.0.1:443       ClusterIP      1 => 172.18.0.2:6443 (active)
7    10.96.44.10:80      ClusterIP      1 => 10.244.1.5:80 (quarantined)
                                        2 => 10.244.2.6:80 (active)
                                        3 => 10.244.2.7:80 (maintenance)
8    10.96.44.11:8080    ClusterIP
"""
CILIUM_1_18 = """\
ID   Frontend                      Service Type   Backend
2    10.96.0.10:53/TCP             ClusterIP      1 => 10.244.1.69:53/TCP (active)
                                                  2 => 10.244.1.109:53/TCP (terminating)
3    10.96.0.10:53/UDP             ClusterIP      1 => 10.244.1.69:53/UDP (active)
4    [fd00:10:96::a]:80/TCP        ClusterIP      1 => [fd00:10:244:1::5]:8080/TCP (active)
5    0.0.0.0:31000/TCP/i           NodePort       1 => 10.244.1.5:8080/TCP (active)
6    172.18.0.3:31000/TCP          NodePort       1 => 10.244.1.5:8080/TCP (active) (preferred)
"""


def test_state_format_of_1_14_to_1_16() -> None:
    parsed = cilium.parse(CILIUM_1_14 + "\t\n")
    assert not parsed.problems and not parsed.partial
    states = [(str(b.address), b.state) for b in parsed.at("10.96.44.10", 80, "TCP")[0].backends]
    assert states == [("10.244.1.5:80", "quarantined"), ("10.244.2.6:80", "active"), ("10.244.2.7:80", "maintenance")]
    assert parsed.at("10.96.44.11", 8080, "TCP")[0].backends == ()


def test_protocol_format_of_1_17_and_1_18() -> None:
    parsed = cilium.parse(CILIUM_1_18)
    assert not parsed.problems
    assert [f.id for f in parsed.at("10.96.0.10", 53, "UDP")] == [3]
    assert [b.state for b in parsed.at("10.96.0.10", 53, "TCP")[0].backends] == ["active", "terminating"]
    six = parsed.at("fd00:10:96::a", 80, "TCP")[0]
    assert six.backends[0].address == cilium.Address("fd00:10:244:1::5", 8080, "TCP")
    internal = parsed.frontends[3]
    assert internal.address.scope == "i" and internal.type == "NodePort"
    assert parsed.frontends[4].backends[0].notes == ("preferred",)
    assert parsed.families == {4, 6}


@pytest.mark.parametrize("version", ["1.13", "1.14", "1.16", "1.17", "1.18"])
def test_every_format_reads_back_what_the_agent_holds(version: str) -> None:
    objects = _cilium_cluster(type="NodePort")
    parsed = cilium.parse(service_list(objects, version=version, node_addresses=["172.18.0.2"]))
    assert not parsed.problems
    service = next(o for o in objects if o["kind"] == "Service")
    frontends = parsed.at(service["spec"]["clusterIP"], 80, "TCP")
    pods = {o["status"]["podIP"] for o in objects if o["kind"] == "Pod" and o["metadata"]["namespace"] == "app"}
    assert {b.address.ip for b in frontends[0].backends} == pods
    assert {f.type for f in parsed.frontends} == {"ClusterIP", "NodePort"}


def test_unreadable_lines_are_kept_not_dropped() -> None:
    parsed = cilium.parse(CILIUM_1_14 + "                    garbage here\nnot a row at all\n")
    assert parsed.problems == ("line 7: garbage here", "line 8: not a row at all")


# -- SD806 ----------------------------------------------------------------------------------------


def _cilium_cluster(**service: Any) -> list[dict[str, Any]]:
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("app")
    b.namespace("kube-system")
    nodes = {"node-a": "172.18.0.2", "node-b": "172.18.0.3"}
    for node, ip in nodes.items():
        b.node(node, ip)
    http = [{"name": "http", "containerPort": 8080}]
    b.deployment("app", "api", {"app": "api"}, [b.container("api", "example/api:1", http)], replicas=2,
                 nodes=["node-a", "node-b"])
    b.service("app", "api", {"app": "api"}, [{"name": "http", "port": 80, "targetPort": "http"}], **service)
    cilium_cluster(b, nodes)
    return b.build()


def _check(objects: list[dict[str, Any]], text: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    snapshot, listing = tmp_path / "snapshot.yaml", tmp_path / "svc.txt"
    snapshot.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    listing.write_text(text)
    result = run_cli("check", "api", "-n", "app", "--snapshot", str(snapshot), "--cilium-service-list",
                     f"node-a={listing}", *args, "-o", "json")
    assert result.exit_code in (0, 1, 4), result.stderr
    return result.json()  # type: ignore[no-any-return]


def _sd806(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["id"] == "SD806"]


def _pod_ips(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["status"]["podIP"] for o in objects if o["kind"] == "Pod" and o["metadata"]["namespace"] == "app")


def test_in_sync_map_passes_step_8(tmp_path: Path) -> None:
    objects = _cilium_cluster()
    report = _check(objects, service_list(objects, version="1.16"), tmp_path)
    assert not _sd806(report) and report["verdict"] == "ok"
    assert next(s for s in report["steps"] if s["step"] == 8)["status"] == "pass"


def test_quarantined_ready_endpoint_is_held_back(tmp_path: Path) -> None:
    objects = _cilium_cluster()
    held = _pod_ips(objects)[0]
    report = _check(objects, service_list(objects, version="1.16", agent_view={held: "quarantined"}), tmp_path)
    [finding] = _sd806(report)
    assert finding["severity"] == "warning" and f"{held}:8080 (quarantined)" in finding["message"]
    assert report["verdict"] == "degraded"


def test_missing_frontend_makes_the_client_on_that_node_fail(tmp_path: Path) -> None:
    objects = _cilium_cluster()
    client = next(o for o in objects if o["kind"] == "Pod" and o["spec"]["nodeName"] == "node-a"
                  and o["metadata"]["namespace"] == "app")
    report = _check(objects, service_list(objects, version="1.18", skip=["app/api"]), tmp_path,
                    "--from", f"app/{client['metadata']['name']}")
    [finding] = _sd806(report)
    assert finding["severity"] == "error" and "has no frontend" in finding["message"]
    assert report["verdict"] == "unreachable" and report["findings"][0]["id"] == "SD806"


def test_a_cut_list_without_the_frontend_is_unknown_not_missing(tmp_path: Path) -> None:
    objects = _cilium_cluster()
    text = service_list(objects, version="1.16", skip=["app/api"]).replace("\n", "\n[...]\n", 1)
    report = _check(objects, text, tmp_path)
    assert not _sd806(report) and report["verdict"] == "unknown"


def test_serving_terminating_pod_shown_terminating_is_in_sync(tmp_path: Path) -> None:
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("app")
    b.namespace("kube-system")
    b.node("node-a", "172.18.0.2")
    http = [{"name": "http", "containerPort": 8080}]
    [pod] = b.deployment("app", "api", {"app": "api"}, [b.container("api", "example/api:1", http)], replicas=1)
    b.terminate(pod)
    b.service("app", "api", {"app": "api"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    cilium_cluster(b, {"node-a": "172.18.0.2"})
    objects = b.build()
    text = service_list(objects, version="1.16")
    assert "(terminating)" in text
    assert not _sd806(_check(objects, text, tmp_path))


def test_local_redirect_frontend_is_not_compared(tmp_path: Path) -> None:
    objects = _cilium_cluster()
    service = next(o for o in objects if o["kind"] == "Service")
    text = ("ID   Frontend         Service Type    Backend\n"
            f"1    {service['spec']['clusterIP']}:80   LocalRedirect   1 => 10.244.9.9:8080 (active)\n")
    assert not _sd806(_check(objects, text, tmp_path))


def test_no_list_skips_with_the_way_to_get_one(tmp_path: Path) -> None:
    objects = _cilium_cluster()
    snapshot = tmp_path / "snapshot.yaml"
    snapshot.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    report = run_cli("check", "api", "-n", "app", "--snapshot", str(snapshot), "-o", "json").json()
    step = next(s for s in report["steps"] if s["step"] == 8)
    assert step["status"] != "pass" and "cilium-dbg service list" in repr(step)


# -- getting the list in ------------------------------------------------------------------------------


def test_collect_node_takes_a_saved_list(tmp_path: Path) -> None:
    listing = tmp_path / "svc.txt"
    listing.write_text(CILIUM_1_14)
    result = run_cli("collect", "node", "--node-name", "node-a", "--cilium-service-list", str(listing))
    assert result.exit_code == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["kind"] == "NodeDump" and "proxyMode" not in document
    assert cilium.parse(document["ciliumServiceList"]).frontends[1].backends[0].state == "quarantined"


@pytest.mark.parametrize("value", ["node-a", "=x.txt", "node-a="])
def test_bad_cilium_service_list_flag_is_one_line(value: str, tmp_path: Path) -> None:
    objects = _cilium_cluster()
    snapshot = tmp_path / "snapshot.yaml"
    snapshot.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    result = run_cli("check", "api", "-n", "app", "--snapshot", str(snapshot), "--cilium-service-list", value)
    assert result.exit_code == 2 and "NODE=FILE" in result.stderr and "Traceback" not in result.stderr
