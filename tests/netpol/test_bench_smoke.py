"""The NetworkPolicy benchmark runs (at a small scale, so the suite stays fast) and meets its targets."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import ROOT


def test_benchmark_runs_small(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("netpol_bench", ROOT / "benchmarks" / "netpol_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--namespaces", "6", "--groups", "6"]) == 0
    out = capsys.readouterr().out
    assert "6 namespaces, 602 Pods, 60 NetworkPolicies" in out
    assert "6 x 6 pod-group matrix" in out


def test_policy_tiers_benchmark_runs_small(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("policy_tiers_bench", ROOT / "benchmarks" / "policy_tiers_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--namespaces", "5"]) == 0
    out = capsys.readouterr().out
    assert ("20 AdminNetworkPolicy, 5 CiliumClusterwideNetworkPolicy, 20 CiliumNetworkPolicy, "
            "5 ClusterNetworkPolicy") in out
    assert "step 6 (SD601-SD607)" in out
