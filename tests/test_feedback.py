"""Small problems from a new user's notes (../shared/feedback/new-user-2026-12.md), each fixed."""

from __future__ import annotations

from pathlib import Path

from svcdoctor.serve.apiserver import SnapshotAPIServer
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
