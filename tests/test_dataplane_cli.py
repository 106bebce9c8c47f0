"""Getting node dumps into a diagnosis: `collect node`, `check --node-dump`, and step 8 without one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from svcdoctor.dataplane.collect import read_node_dump_files
from svcdoctor.errors import InputError
from svcdoctor.testing.kubeproxy import ProxyInput, nft_rules
from svcdoctor.testing.netns import Lab, netns_usable
from tests.conftest import ROOT, SHARED, require, run_cli
from tests.test_dataplane_oracles import ORACLE

uses_oracle = pytest.mark.shared("oracles/kube-proxy")


def _services_file(tmp_path: Path) -> str:
    path = tmp_path / "services.yaml"
    path.write_text((ORACLE / "services-overall.yaml").read_text())
    return str(path)


@uses_oracle
def test_collect_from_saved_output_then_check_with_it(tmp_path: Path) -> None:
    result = run_cli("collect", "node", "--node-name", "test-node", "--iptables-save",
                     str(ORACLE / "iptables-overall.txt"))
    assert result.exit_code == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["kind"] == "NodeDump" and document["metadata"]["name"] == "test-node"
    assert document["proxyMode"] == "iptables"
    assert "KUBE-SVC-XPGD46QRK7WJZT7O" in document["iptablesSave"]
    dump = tmp_path / "node.yaml"
    dump.write_text(result.stdout)
    check = run_cli("check", "svc6", "-n", "ns6", "--snapshot", _services_file(tmp_path), "--node-dump", str(dump),
                    "-o", "json")
    report = check.json()
    ids = [finding["id"] for finding in report["findings"]]
    assert "SD805" in ids, ids
    reject = next(finding for finding in report["findings"] if finding["id"] == "SD805")
    assert "has no endpoints" in str(reject["evidence"])
    assert report["verdict"] == "unreachable"
    # A healthy Service of the same dump: the rules are fine; kube-proxy's Pods were not recorded, so
    # step 8 is partial (SD801 not checked), never a ✔.
    healthy = run_cli("check", "svc4", "-n", "ns4", "--snapshot", _services_file(tmp_path), "--node-dump",
                      str(dump), "-o", "json").json()
    assert not [finding for finding in healthy["findings"] if finding["id"] in ("SD802", "SD803", "SD805")]
    step8 = next(step for step in healthy["steps"] if step["step"] == 8)
    assert step8["status"] == "partial" and {"SD802", "SD803", "SD805"} <= set(step8["checked"])
    assert [item["checks"] for item in step8["missing"]] == [["SD801"]]


@uses_oracle
def test_node_dump_flag_is_repeatable_and_checks_every_node(tmp_path: Path) -> None:
    paths = []
    for node, source, flag in (("node-1", "iptables-overall.txt", "--iptables-save"),
                               ("node-2", "nftables-overall.txt", "--nft-ruleset")):
        result = run_cli("collect", "node", "--node-name", node, flag, str(ORACLE / source))
        path = tmp_path / f"{node}.yaml"
        path.write_text(result.stdout)
        paths.append(str(path))
    dumps = read_node_dump_files(paths)
    assert [(dump.node, dump.proxy_mode) for dump in dumps] == [("node-1", "iptables"), ("node-2", "nftables")]
    report = run_cli("check", "svc6", "-n", "ns6", "--snapshot", _services_file(tmp_path), "--node-dump", paths[0],
                     "--node-dump", paths[1], "-o", "json").json()
    assert sorted(finding["message"].split(",")[0] for finding in report["findings"] if finding["id"] == "SD805") \
        == ["On node node-1", "On node node-2"]


@uses_oracle
def test_without_a_dump_step_8_is_skipped_and_says_how_to_get_one(tmp_path: Path) -> None:
    report = run_cli("check", "svc1", "-n", "ns1", "--snapshot", _services_file(tmp_path), "-o", "json").json()
    step = next(step for step in report["steps"] if step["step"] == 8)
    assert step["status"] == "skipped"
    assert "collect node" in str(step)


@uses_oracle
@pytest.mark.parametrize("content, message", [
    (None, "No such file"),
    ("apiVersion: v1\nkind: List\nitems: []\n", "no NodeDump"),
    ("apiVersion: svcdoctor.dev/v1\nkind: NodeDump\nmetadata: {name: a}\nproxyMode: userspace\n", "proxyMode"),
    ("apiVersion: svcdoctor.dev/v1\nkind: NodeDump\nmetadata: {name: a}\niptablesSave: [1, 2]\n", "must be text"),
])
def test_bad_node_dump_files_are_one_line_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "dump.yaml"
    if content is not None:
        path.write_text(content)
    result = run_cli("check", "svc1", "-n", "ns1", "--snapshot", _services_file(tmp_path), "--node-dump", str(path))
    assert result.exit_code == 2
    assert message.lower() in result.stderr.lower()
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    with pytest.raises(InputError):
        read_node_dump_files([str(path)])


def test_collect_node_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = run_cli("collect", "node")
    assert result.exit_code == 2
    assert "must run as root" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.netns
def test_collect_node_on_a_real_node(tmp_path: Path) -> None:
    require(netns_usable(), "needs root and ip netns")
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "lab", "name": "web"},
               "spec": {"clusterIP": "198.18.100.10", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}
    with Lab() as lab:
        lab.load_nft(nft_rules([ProxyInput(service, [])], node="lab-node", node_ips=["198.18.0.1"],
                               cluster_cidr="198.19.0.0/24"))
        result = lab.run("node", [sys.executable, "-m", "svcdoctor", "collect", "node", "--node-name", "lab-node",
                                  "-o", str(tmp_path / "dump.yaml")], check=False)
        # `ip netns exec` keeps the environment: make the worktree importable explicitly.
        if result.returncode != 0 and "No module named" in result.stderr:
            result = subprocess.run(["ip", "netns", "exec", lab.ns("node"), "env", f"PYTHONPATH={ROOT}",
                                     sys.executable, "-m", "svcdoctor", "collect", "node", "--node-name", "lab-node",
                                     "-o", str(tmp_path / "dump.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (dump,) = read_node_dump_files([str(tmp_path / "dump.yaml")])
    assert dump.node == "lab-node" and dump.proxy_mode == "nftables"
    assert "table ip kube-proxy" in dump.nft_ruleset and 'comment "lab/web:http"' in dump.nft_ruleset


def test_collect_refuses_saved_output_without_a_rule(tmp_path: Path) -> None:
    empty = tmp_path / "empty.iptables"
    empty.write_text("# Generated by iptables-save v1.8.9 (nf_tables) on Fri Dec  4 19:00:00 2026\n")
    out = tmp_path / "dump.yaml"
    result = run_cli("collect", "node", "--node-name", "a", "--iptables-save", str(empty), "-o", str(out))
    assert result.exit_code == 2, result.stderr
    assert "no rule could be read" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.netns
def test_collect_node_on_a_node_without_rules_writes_nothing_and_says_why(tmp_path: Path) -> None:
    """A host where no tool prints a rule (a container without the host's network, a wrong
    --chroot): an empty dump would read as "kube-proxy has no rules here", so none is written:
    one line, exit 3 (the node could not be read, as a cluster that cannot be read)."""
    require(netns_usable(), "needs root and ip netns")
    out = tmp_path / "dump.yaml"
    with Lab() as lab:
        result = subprocess.run(["ip", "netns", "exec", lab.ns("node"), "env", f"PYTHONPATH={ROOT}", sys.executable,
                                 "-m", "svcdoctor", "collect", "node", "--node-name", "lab-node", "-o", str(out)],
                                capture_output=True, text=True)
    assert result.returncode == 3, result.stderr
    assert "no rule could be read on this node" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not out.exists()


def test_a_dump_of_a_node_the_snapshot_does_not_know_is_reported(tmp_path: Path) -> None:
    items = [item for item in yaml.safe_load_all((ORACLE / "services-overall.yaml").read_text()) if item]
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.2"}]}}
    snapshot = tmp_path / "snapshot.yaml"
    snapshot.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [*items, node]}))
    dump = tmp_path / "node.yaml"
    dump.write_text(run_cli("collect", "node", "--node-name", "ip-10-0-3-7", "--iptables-save",
                            str(ORACLE / "iptables-overall.txt")).stdout)
    report = run_cli("check", "svc1", "-n", "ns1", "--snapshot", str(snapshot), "--node-dump", str(dump),
                     "-o", "json").json()
    # Reported as evidence that matches nothing (SD003), not traced as if it were node-a's rules.
    unmatched = [finding for finding in report["findings"] if finding["id"] == "SD003"]
    assert unmatched and "ip-10-0-3-7" in unmatched[0]["message"], report["findings"]
    assert not [finding for finding in report["findings"] if finding["step"] == 8], report["findings"]
    step8 = next(step for step in report["steps"] if step["step"] == 8)
    assert step8["status"] in ("partial", "skipped"), step8
    assert any("ip-10-0-3-7 matches no Node" in item["what"] for item in step8["missing"]), step8


@pytest.mark.shared("realworld-dev/nodedumps/flannel-2023-k8s126-worker1.iptables-save.txt")
def test_a_dump_of_another_cluster_gives_no_root_cause(tmp_path: Path) -> None:
    # A user's review: a flannel cluster's dump, named w1, against the demo snapshot (Nodes node-a,
    # node-b) gave "UNREACHABLE · root cause: SD802" — rules of another cluster judged as this one's.
    dump = tmp_path / "w1.yaml"
    flannel = SHARED / "realworld-dev" / "nodedumps" / "flannel-2023-k8s126-worker1.iptables-save.txt"
    collected = run_cli("collect", "node", "--node-name", "w1", "--iptables-save", str(flannel), "-o", str(dump))
    assert collected.exit_code == 0, collected.stderr
    demo = ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml"
    with_dump = run_cli("check", "frontend", "-n", "shop", "--snapshot", str(demo), "--node-dump", str(dump),
                        "-o", "json").json()
    without = run_cli("check", "frontend", "-n", "shop", "--snapshot", str(demo), "-o", "json").json()
    assert with_dump["verdict"] == without["verdict"]
    assert [f["id"] for f in with_dump["findings"] if f["id"] != "SD003"] == [f["id"] for f in without["findings"]]
    assert "w1" in next(f for f in with_dump["findings"] if f["id"] == "SD003")["message"]
    assert next(step for step in with_dump["steps"] if step["step"] == 8)["status"] in ("partial", "skipped", "unknown")
