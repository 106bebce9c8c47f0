"""``scan``'s default text: only the Services with findings, counts for the rest, each root cause whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from svcdoctor.testing.cluster import ClusterBuilder
from tests.conftest import ROOT, run_cli

HELM = ROOT / "fixtures" / "scenarios" / "manifests-helm-rendered-targetport-missing" / "manifests" / "rendered.yaml"


def _many_services(tmp_path: Path, healthy: int) -> str:
    """``healthy`` working Services and one whose selector matches nothing, in namespace shop."""
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("shop")
    b.node("node-a", "172.18.0.2")
    http = [{"name": "http", "containerPort": 8080}]
    for index in range(healthy):
        b.deployment("shop", f"app{index}", {"app": f"app{index}"}, [b.container("app", "app:1", http)], replicas=1)
        b.service("shop", f"app{index}", {"app": f"app{index}"}, [{"name": "http", "port": 80, "targetPort": 8080}])
    b.service("shop", "orphan", {"app": "gone"}, [{"name": "http", "port": 80, "targetPort": 8080}])
    path = tmp_path / "many.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": b.build()}))
    return str(path)


def test_only_services_with_findings_are_listed(tmp_path: Path) -> None:
    snapshot = _many_services(tmp_path, 40)
    result = run_cli("scan", "-n", "shop", "--snapshot", snapshot)
    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    assert lines[0] == "svcdoctor scan: 41 Service(s), 1 with findings, worst first"
    assert lines[2].split()[:2] == ["unreachable", "shop/orphan"] and lines[2].split()[3] == "SD301"
    assert lines[3] == ("1 unreachable, 40 ok (40 without findings at warning or above not listed; --all lists "
                        "every Service)")
    assert len(lines) == 4
    every = run_cli("scan", "-n", "shop", "--snapshot", snapshot, "--all").stdout.splitlines()
    assert len(every) == 2 + 41 + 1 and every[-1] == "1 unreachable, 40 ok"


def test_the_root_cause_is_whole_with_its_file_and_line_even_in_a_narrow_terminal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    result = run_cli("scan", "--manifests", str(HELM))
    row = next(line for line in result.stdout.splitlines() if "SD202" in line)  # the title above wraps at 40
    line = next(number for number, text in enumerate(HELM.read_text().splitlines(), 1)
                if text.strip() == "targetPort: http")
    assert "SD202 The named targetPort is missing on (some) selected Pods" in row
    assert row.endswith(f"  ({HELM}:{line})")


def test_a_healthy_namespace_is_two_lines(tmp_path: Path) -> None:
    snapshot = _many_services(tmp_path, 3)
    text = run_cli("scan", "-n", "shop", "--snapshot", snapshot, "--ignore", "SD301,SD501").stdout
    lines = text.splitlines()
    assert lines[:2] == ["svcdoctor scan: 4 Service(s), 0 with findings",
                         "4 ok (4 without findings at warning or above not listed; --all lists every Service)"]
    assert len(lines) == 3 and lines[2].endswith("finding(s) suppressed (--show-suppressed lists them)")


def test_the_count_of_unlisted_services_says_how_many_notes_they_hold(tmp_path: Path) -> None:
    """A Service with only info findings is not listed, but its notes are counted, not hidden."""
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("shop")
    b.node("node-a", "172.18.0.2")
    for name in ("quiet", "bare"):  # containers that declare no ports: SD201 notes it (info)
        b.deployment("shop", name, {"app": name}, [b.container(name, f"{name}:1")], replicas=1)
        b.service("shop", name, {"app": name}, [{"name": "http", "port": 80, "targetPort": 8080}])
    path = tmp_path / "notes.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": b.build()}))
    summary = " ".join(run_cli("scan", "-n", "shop", "--snapshot", str(path)).stdout.split("\n", 1)[1].split())
    assert summary == ("2 ok (2 without findings at warning or above not listed, 2 info findings among them; "
                       "--all lists every Service)")
