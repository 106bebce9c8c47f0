"""Claims made only on evidence (the audit of main): a Service that could not be read is never reported
as absent, and the path map's client hop is never a pass by default.

Each test names the false claim main made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from svcdoctor.serve.apiserver import ServerOptions, SnapshotAPIServer
from tests.conftest import SCENARIOS, run_cli
from tests.test_honest_steps import EVIDENCE, _args, _objects, _steps


def _served(scenario: str, forbid: set[str], tmp_path: Path, *args: str) -> tuple[str, dict[str, Any]]:
    """The text (plain and -v) and markdown, and the JSON report, of a live check against ``scenario``
    served with ``forbid`` refused."""
    objects = [o for o in _objects(scenario) if o.get("apiVersion") != EVIDENCE]
    with SnapshotAPIServer(objects, options=ServerOptions(forbid=forbid)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
        text = run_cli(*args, "--kubeconfig", config).stdout + run_cli(*args, "--kubeconfig", config, "-v").stdout
        result = run_cli(*args, "--kubeconfig", config, "-o", "json")
        markdown = run_cli(*args, "--kubeconfig", config, "-o", "markdown")
    assert not result.stderr, result.stderr
    return text + markdown.stdout, result.json()


def test_a_service_that_could_not_be_read_is_not_reported_absent(tmp_path: Path) -> None:
    # main: steps 6 and 9 "skipped: the Service does not exist (step 1)" while step 1 was unknown.
    text, report = _served("healthy-clusterip-deployment", {"services"}, tmp_path,
                           "check", "frontend", "-n", "shop")
    steps = _steps(report)
    assert steps[1]["status"] == "unknown"
    assert all(steps[number]["status"] == "unknown" for number in range(2, 10)), steps
    assert all("does not exist" not in step.get("reason", "") for step in report["steps"])
    assert "the Service could not be read (step 1)" in steps[9]["reason"]
    assert "does not exist" not in text and report["verdict"] == "unknown"
    # Step 7 is unknown for want of the kube-system Services, not for want of a client.
    assert "unknown: no client" not in text and " 7 Does it work by DNS name?   unknown: could not list" in text


def test_a_service_that_does_not_exist_still_skips_the_steps_after_it() -> None:
    snapshot = str(SCENARIOS / "service-name-typo" / "snapshot.yaml")
    report = run_cli(*_args("service-name-typo"), "--snapshot", snapshot, "-o", "json").json()
    assert _steps(report)[1]["status"] == "fail"
    after = _steps(report)[9]
    assert (after["status"], after["reason"]) == ("skipped", "the Service does not exist (step 1)")


def _path_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("path  "))


def _client_hop(page: str) -> str:
    start = page.index('data-hop="client"')
    return page[start:page.index(">", start)]


def test_the_client_hop_is_not_checked_when_no_client_is_given() -> None:
    # main: "path  client ✔" with no client given.
    args = [*_args("selector-label-renamed"), "--snapshot", str(SCENARIOS / "selector-label-renamed" / "snapshot.yaml")]
    assert "--from" not in args
    assert _path_line(run_cli(*args).stdout).startswith("path  client – → ")
    assert "Path: client ➖ → " in run_cli(*args, "-o", "markdown").stdout
    assert 'data-state="skipped"' in _client_hop(run_cli(*args, "-o", "html").stdout)


def test_the_client_hop_passes_when_the_client_pod_was_read() -> None:
    snapshot = str(SCENARIOS / "netpol-named-port-allowed" / "snapshot.yaml")
    args = [*_args("netpol-named-port-allowed"), "--snapshot", snapshot]
    assert "--from" in args
    assert _path_line(run_cli(*args).stdout).startswith("path  client ✔ → ")
    assert "Path: client ✅ → " in run_cli(*args, "-o", "markdown").stdout
    assert 'data-state="pass"' in _client_hop(run_cli(*args, "-o", "html").stdout)


def test_a_client_pod_that_could_not_be_read_is_unknown_on_the_path(tmp_path: Path) -> None:
    text, _ = _served("netpol-named-port-allowed", {"pods"}, tmp_path, *_args("netpol-named-port-allowed"))
    assert _path_line(text).startswith("path  client ? → ")
    assert "Path: client ❔ → " in text


def _headline_and_summary(scenario: str, *extra: str) -> tuple[str, str]:
    args = [*_args(scenario), "--snapshot", str(SCENARIOS / scenario / "snapshot.yaml"), *extra]
    lines = run_cli(*args).stdout.splitlines()
    headline = next(line for line in lines if "UNREACHABLE" in line)
    summary = next(line for line in lines if line.startswith(("likely unreachable", "unreachable")))
    return headline, summary


def test_the_summary_line_carries_the_verdict_confidence() -> None:
    # main: headline "LIKELY UNREACHABLE", summary line "unreachable · …".
    headline, summary = _headline_and_summary("targetport-defaults-to-service-port")
    assert headline.startswith("LIKELY UNREACHABLE") and summary.startswith("likely unreachable · ")
    headline, summary = _headline_and_summary("selector-label-renamed")
    assert headline.startswith("UNREACHABLE") and summary.startswith("unreachable · ")


@pytest.mark.parametrize("scenario", ["netpol-cross-namespace-client", "admin-policy-denies-other-tenant",
                                      "cilium-starwars-xwing-denied"])
def test_every_declared_policy_denial_is_likely(scenario: str) -> None:
    # main: SD601 "LIKELY UNREACHABLE · probable cause" but SD606/SD607 "UNREACHABLE · root cause" for the
    # same kind of evidence: a policy as declared, no data plane observed.
    args = [*_args(scenario), "--snapshot", str(SCENARIOS / scenario / "snapshot.yaml")]
    report = run_cli(*args, "-o", "json").json()
    root = report["findings"][0]
    assert root["step"] == 6 and root["confidence"] == "likely", root["id"]
    assert report["verdictConfidence"] == "likely"
    headline, summary = _headline_and_summary(scenario)
    assert headline.startswith("LIKELY UNREACHABLE · probable cause") and summary.startswith("likely unreachable")


def test_policy_checks_that_judge_a_client_rest_on_declarations() -> None:
    from svcdoctor.checks.registry import CHECKS

    judging = [check for check in CHECKS if check.step == 6 and check.needs_client]
    assert {check.id for check in judging} >= {"SD601", "SD602", "SD606", "SD607"}
    assert {check.id: check.confidence for check in judging} == {check.id: "likely" for check in judging}


def _recorded_with(forbid: set[str], tmp_path: Path) -> str:
    """``record -n shop`` of the healthy scenario served with ``forbid`` refused: the recording carries the refusal."""
    objects = [o for o in _objects("healthy-clusterip-deployment") if o.get("apiVersion") != EVIDENCE]
    out = tmp_path / "unreadable.yaml"
    with SnapshotAPIServer(objects, options=ServerOptions(forbid=forbid)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
        assert run_cli("record", "-n", "shop", "--kubeconfig", config, "-o", str(out)).exit_code == 0
    return str(out)


def test_diff_says_pods_were_not_read_rather_than_removed(tmp_path: Path) -> None:
    # main: "Pod shop/frontend-… (the object): present → absent" for each Pod the recording could not list.
    healthy = str(SCENARIOS / "healthy-clusterip-deployment" / "snapshot.yaml")
    unreadable = _recorded_with({"shop/pods"}, tmp_path)
    for args in ([healthy, unreadable], [healthy, unreadable, "frontend", "-n", "shop"]):
        result = run_cli("diff", *args)
        assert result.exit_code == 1, result.stderr
        assert "absent" not in result.stdout and "present" not in result.stdout
        assert "shop/frontend: ok → unknown (worse; not decided: Pods in shop not read in AFTER)" in result.stdout
        assert "Pods in shop: not read in AFTER (could not list pods: forbidden" in result.stdout
        assert "not a removal" in result.stdout and "root cause now" not in result.stdout
        changes = run_cli("diff", *args, "-o", "json").json()["services"][0]["changes"]
        assert changes[0] == {**changes[0], "object": "Pods in shop", "before": "read", "after": "not read",
                              "notRead": True}
        assert not any(change["object"].startswith("Pod shop/") for change in changes)
    back = run_cli("diff", unreadable, healthy)
    assert "unknown → ok (better)" in back.stdout and "Pods in shop: not read in BEFORE" in back.stdout


def test_diff_says_services_were_not_read_rather_than_gone(tmp_path: Path) -> None:
    # main: "shop/frontend: ok → absent" when the recording could not list Services.
    healthy = str(SCENARIOS / "healthy-clusterip-deployment" / "snapshot.yaml")
    result = run_cli("diff", healthy, _recorded_with({"services"}, tmp_path))
    assert "shop/frontend: ok → unknown (worse; not decided: Services in shop not read in AFTER" in result.stdout
    assert "absent" not in result.stdout
