"""Probe planning, evidence round trips, gather() in a network-namespace lab, and the CLI edges of --probe / dns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from svcdoctor.probe.evidence import evidence_objects
from svcdoctor.probe.plan import plan
from svcdoctor.snapshot import DNSAnswer, ProbeResult, build_snapshot, read_evidence
from svcdoctor.testing.cluster import ClusterBuilder
from svcdoctor.testing.dnslab import add_cluster_dns
from svcdoctor.testing.netns import NODE_IP, Lab, netns_usable
from tests.conftest import ROOT, SCENARIOS, require, run_cli


def nodeport_cluster(replicas: int = 3) -> list[dict]:
    b = ClusterBuilder()
    b.namespace("kube-system")
    b.namespace("shop")
    b.node("node-a", "172.18.0.2")
    b.node("node-b", "172.18.0.3")
    add_cluster_dns(b)
    ports = [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090},
             {"name": "syslog", "containerPort": 514, "protocol": "UDP"}]
    b.deployment("shop", "web", {"app": "web"}, [b.container("web", "example/web:1", ports)], replicas=replicas)
    b.service("shop", "web", {"app": "web"},
              [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "syslog", "port": 514,
                                                                     "protocol": "UDP", "targetPort": 514}],
              type="LoadBalancer", load_balancer_ip="203.0.113.7")
    return b.build()


def test_plan_takes_targets_from_the_objects_in_priority_order() -> None:
    snapshot = build_snapshot(nodeport_cluster())
    full = plan(snapshot, "shop", "web", 64)
    kinds = [t.kind for t in full.targets]
    assert kinds[:2] == ["dns", "dnsPod"] and kinds[2] == "clusterIP"
    assert kinds.count("pod") == 3 and kinds.count("nodePort") == 2 and kinds.count("loadBalancer") == 1
    pod_ports = {t.port for t in full.targets if t.kind == "pod"}
    assert pod_ports == {8080}  # the named targetPort resolved through the EndpointSlice
    assert any("514/UDP" in text for text in full.not_probed)  # UDP other than DNS cannot be probed
    assert full.left_out == 0
    cut = plan(snapshot, "shop", "web", 4)
    assert len(cut.targets) == 4 and cut.left_out == len(full.targets) - 4
    assert [t.kind for t in cut.targets] == kinds[:4]
    pod_ips = {p["status"]["podIP"] for p in snapshot.pods}
    node_ips = {"172.18.0.2", "172.18.0.3"}
    for target in full.targets:
        assert target.ip in pod_ips | node_ips | {"203.0.113.7", "10.96.0.10"} | {
            s["spec"]["clusterIP"] for s in snapshot.services}


def test_evidence_round_trips_through_the_snapshot_format() -> None:
    answers = [DNSAnswer("web", "A", "NOERROR", ("10.96.0.3",), "shop/client", "10.96.0.10"),
               DNSAnswer("_http._tcp.web.shop.svc.cluster.local.", "SRV", "NOERROR",
                         ({"type": "SRV", "value": "80 web.shop.svc.cluster.local."},), "", "10.96.0.10")]
    probes = [ProbeResult("10.244.0.5", 8080, "TCP", "refused", "node/node-a", "pod", "Pod shop/web-1", 0.001)]
    objects = evidence_objects(answers, probes)
    text = yaml.safe_dump(objects)
    assert [read_evidence(o) for o in yaml.safe_load(text)] == [*answers, *probes]


WEB_0, WEB_1, CLUSTER_IP = "198.19.0.10", "198.19.0.11", "198.19.0.12"
CLIENT_IP = "198.18.0.2"


def lab_snapshot(port: int) -> list[dict]:
    """web-0 listens, web-1 and the Service address refuse; every address inside the lab's 198.18.0.0/15."""
    b = ClusterBuilder(pod_cidr="198.19.0.0/24")
    b.namespace("shop")
    b.node("node-a", NODE_IP, pod_cidr="198.19.0.0/24")
    for name, ip in (("web-0", WEB_0), ("web-1", WEB_1)):
        b.pod("shop", name, {"app": "web"}, [b.container("web", "x", [{"name": "http", "containerPort": port}])],
              ip=ip, node="node-a")
    b.service("shop", "web", {"app": "web"}, [{"name": "http", "port": port, "targetPort": "http"}],
              clusterIP=CLUSTER_IP, clusterIPs=[CLUSTER_IP])
    return b.build()


@pytest.fixture
def lab() -> Iterator[Lab]:
    require(netns_usable(), "needs root and ip netns")
    with Lab() as made:
        for role, ip in (("web-0", WEB_0), ("web-1", WEB_1), ("vip", CLUSTER_IP)):
            made.add_pod(role, ip)
        made.add_client("client", CLIENT_IP)
        made.listen_tcp("web-0", WEB_0, 8080, reply="web-0")
        yield made


def svcdoctor_in(lab: Lab, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return lab.run("client", ["env", f"PYTHONPATH={ROOT}", "SVCDOCTOR_PROBE_METHOD=connect", sys.executable, "-m",
                              "svcdoctor", *args], check=False, timeout=timeout)


@pytest.mark.netns
def test_gather_probes_real_sockets(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": lab_snapshot(8080)}))
    result = svcdoctor_in(lab, "check", "web", "-n", "shop", "--probe", "--probe-timeout", "1", "--snapshot",
                          str(path), "--probe-file-addresses", str(path), "-o", "json", "--fail-on", "never")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    found = {f["id"]: f for f in report["findings"]}
    # web-1 has nothing listening on the port: refused. web-0 accepts.
    assert "SD901" in found and "web-1" in found["SD901"]["message"]
    assert "SD902" not in found and "SD905" not in found
    assert "probing 3 address(es) of shop/web" in result.stderr
    assert "no cluster DNS Service in the snapshot" in result.stderr


def test_probing_a_file_needs_its_addresses_confirmed(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": lab_snapshot(8080)}))
    for extra in ([], ["--probe-file-addresses", str(tmp_path / "other.yaml")]):
        result = run_cli("check", "web", "-n", "shop", "--probe", "--snapshot", str(path), *extra)
        assert result.exit_code == 2 and f"--probe-file-addresses {path}" in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    dns = run_cli("dns", "web", "-n", "shop", "--probe", "--snapshot", str(path))
    assert dns.exit_code == 2 and "--probe-file-addresses" in dns.stderr


@pytest.mark.parametrize(("flags", "message"), [
    (["--probe-timeout", "0"], "--probe-timeout"),
    (["--max-probes", "0"], "--max-probes"),
    (["--dns-server", "not-an-ip"], "--dns-server"),
])
def test_bad_probe_flags_are_one_line_errors(flags: list[str], message: str) -> None:
    snapshot = SCENARIOS / "cluster-ip-no-rules-on-node" / "snapshot.yaml"
    result = run_cli("check", "api", "-n", "shop", "--snapshot", str(snapshot), "--probe", *flags,
                     "--probe-file-addresses", str(snapshot))
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_scapy_is_not_imported_without_probe() -> None:
    snapshot = SCENARIOS / "pod-listens-on-localhost" / "snapshot.yaml"
    code = ("import sys; from svcdoctor.cli import run;"
            f"run(['check', 'api', '-n', 'shop', '--snapshot', {str(snapshot)!r}, '-o', 'json']);"
            "print('SCAPY', 'scapy' in sys.modules, 'dns.asyncquery' in sys.modules, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "SCAPY False False" in result.stderr


def test_dns_command_lists_expected_records_offline() -> None:
    snapshot = SCENARIOS / "dns-headless-stale-address" / "snapshot.yaml"
    result = run_cli("dns", "pg", "-n", "data", "--snapshot", str(snapshot), "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["clusterDomainFrom"].startswith("the kubernetes plugin of the Corefile")
    names = {(r["name"], r["type"]) for r in data["records"]}
    assert ("pg-1.pg.data.svc.cluster.local.", "A") in names
    assert ("_pg._tcp.pg.data.svc.cluster.local.", "SRV") in names
    missing = run_cli("dns", "nope", "-n", "data", "--snapshot", str(snapshot))
    assert missing.exit_code == 2 and "no Service data/nope" in missing.stderr


@pytest.mark.netns
def test_record_probe_stores_results_that_replay_offline(lab: Lab, tmp_path: Path) -> None:
    """record --probe over the real kubernetes client (snapshot serve inside the client's namespace): the
    probes land in the file; a replay without --probe gives the same step-9 findings."""
    served = tmp_path / "served.yaml"
    served.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": lab_snapshot(8080)}))
    config = tmp_path / "kubeconfig"
    lab.popen("client", ["env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "svcdoctor", "snapshot", "serve",
                         str(served), "--port", "0", "--write-kubeconfig", str(config), "-n", "shop"])
    deadline = time.monotonic() + 30
    while not config.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    recorded = tmp_path / "shop.yaml"
    result = svcdoctor_in(lab, "record", "web", "--probe", "--probe-timeout", "1", "-o", str(recorded),
                          "--kubeconfig", str(config))
    assert result.returncode == 0, result.stderr
    without_name = run_cli("record", "--probe", "-o", str(tmp_path / "x.yaml"), "--kubeconfig", str(config))
    assert without_name.exit_code == 2 and "--probe needs" in without_name.stderr
    items = yaml.safe_load(recorded.read_text())["items"]
    probes = [item for item in items if item["kind"] == "ProbeResult"]
    assert {(p["to"]["ip"], p["result"]) for p in probes} == {(WEB_0, "open"), (WEB_1, "refused"),
                                                               (CLUSTER_IP, "refused")}
    replay = run_cli("check", "web", "-n", "shop", "--snapshot", str(recorded), "-o", "json", "--fail-on", "never")
    found = [f["id"] for f in replay.json()["findings"]]
    assert "SD901" in found and "SD906" in found


def test_job_runs_the_read_only_service_account_and_names_where_it_probes_from(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from svcdoctor.probe.analysis import describe_source, node_of_source
    from svcdoctor.probe.gather import probe_source

    job = yaml.safe_load((ROOT / "deploy" / "job.yaml").read_text())
    rbac = list(yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()))
    accounts = {(o["metadata"].get("namespace"), o["metadata"]["name"]) for o in rbac if o["kind"] == "ServiceAccount"}
    pod_spec = job["spec"]["template"]["spec"]
    assert (job["metadata"]["namespace"], pod_spec["serviceAccountName"]) in accounts
    container = pod_spec["containers"][0]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    env = {item["name"]: item for item in container["env"]}
    args = [a.replace("$(SERVICE)", env["SERVICE"]["value"]).replace("$(SERVICE_NAMESPACE)", "shop")
            for a in container["args"]]
    assert args[:2] == ["check", "backend"] and "--probe" in args
    monkeypatch.setenv("SVCDOCTOR_POD_NAMESPACE", "svcdoctor")
    monkeypatch.setenv("SVCDOCTOR_POD_NAME", "svcdoctor-x7k2p")
    monkeypatch.setenv("SVCDOCTOR_NODE_NAME", "node-b")
    snapshot = build_snapshot(nodeport_cluster())
    source = probe_source(snapshot, "10.96.0.10")
    assert source == "svcdoctor/svcdoctor-x7k2p on node node-b"
    assert node_of_source(snapshot, source) == "node-b"
    assert describe_source(snapshot, source) == "Pod svcdoctor/svcdoctor-x7k2p on node node-b"
    assert {env[v]["valueFrom"]["fieldRef"]["fieldPath"] for v in
            ("SVCDOCTOR_POD_NAMESPACE", "SVCDOCTOR_POD_NAME", "SVCDOCTOR_NODE_NAME")} == {
        "metadata.namespace", "metadata.name", "spec.nodeName"}


def test_without_control_probes_a_drop_from_outside_says_where_it_was_sent_from() -> None:
    from svcdoctor.engine import diagnose_service
    from svcdoctor.probe.evidence import probe_result_object

    b = ClusterBuilder()
    b.namespace("shop")
    b.node("node-a", "172.18.0.2")
    pods = b.deployment("shop", "api", {"app": "api"}, [b.container("api", "x", [{"name": "http",
                                                                                   "containerPort": 8080}])])
    b.service("shop", "api", {"app": "api"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    probes = [probe_result_object(ProbeResult(p["status"]["podIP"], 8080, "TCP", "timeout", "192.168.1.23", "pod",
                                              f"Pod shop/{p['metadata']['name']}", 2.0)) for p in pods]
    report = diagnose_service(build_snapshot([*b.build(), *probes]), "shop", "api")
    found = [f for f in report.findings if f.id == "SD902"]
    assert len(found) == 2 and "192.168.1.23" in found[0].message and "deploy/job.yaml" in found[0].message
    assert not any(f.id == "SD905" for f in report.findings)  # no control probe: it cannot tell


def test_syn_probes_only_go_to_pod_addresses() -> None:
    from svcdoctor.probe.gather import _syn_eligible

    snapshot = build_snapshot(nodeport_cluster())
    eligible = {t.kind for t in plan(snapshot, "shop", "web", 64).targets if _syn_eligible(t)}
    assert eligible == {"pod"}  # ClusterIP, NodePort and LB addresses may be DNATed on the probing host


@pytest.mark.netns
def test_a_syn_probe_refused_by_the_path_is_not_the_pod_refusing(lab: Lab) -> None:
    """A firewall on the way that REJECTs with a port-unreachable of its own address: the Pod did not
    refuse (SD901 would blame its process), the path is closed. The same refusal from the Pod is refused."""
    from svcdoctor.probe.syn import raw_sockets_allowed

    require(raw_sockets_allowed(), "SYN probes need root or CAP_NET_RAW")
    lab.load_iptables("*filter\n:FORWARD ACCEPT [0:0]\n"
                      f"-A FORWARD -d {WEB_0} -p tcp --dport 8080 -j REJECT --reject-with icmp-port-unreachable\n"
                      "COMMIT\n")
    lab.listen_tcp("web-1", WEB_1, 8081, reply="web-1")
    script = ("import json, sys; from svcdoctor.probe.syn import syn_all; "
              f"print(json.dumps([r for r, _ in syn_all([('{WEB_0}', 8080), ('{WEB_1}', 8080), ('{WEB_1}', 8081)], "
              "1.0)]))")
    result = lab.run("client", ["env", f"PYTHONPATH={ROOT}", sys.executable, "-c", script], check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["unreachable", "refused", "open"]
