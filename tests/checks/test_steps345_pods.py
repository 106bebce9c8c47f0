"""Step 4: SD401 (not running), SD402 (readiness failing), SD403 (gates), SD404 (terminating), SD405 (restarts)."""

from __future__ import annotations

import pytest

from svcdoctor.checks import sd401_pods_not_running as sd401
from svcdoctor.checks import sd402_readiness_failing as sd402
from svcdoctor.checks import sd403_readiness_gates as sd403
from svcdoctor.checks import sd404_pods_terminating as sd404
from svcdoctor.checks import sd405_restarting_often as sd405
from svcdoctor.checks.interface import Options
from svcdoctor.findings import Severity, Skip
from svcdoctor.pod_health import read_event
from tests.checks.helpers import HTTP, PORTS, findings, new_cluster, ranked, report

PROBE = {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10}


def web(states: list[str], **options: object):  # type: ignore[no-untyped-def]
    b = new_cluster()
    pods = b.deployment("prod", "web", {"app": "web"}, [b.container("web", "web:1", HTTP, readiness=PROBE)],
                        replicas=len(states), states=states, **options)
    b.service("prod", "web", {"app": "web"}, PORTS)
    return b, pods


# -- SD401 ------------------------------------------------------------------------------------------


def test_sd401_unschedulable_quotes_the_scheduler() -> None:
    b, pods = web(["pending", "pending"])
    b.event(pods[0], "FailedScheduling", "0/2 nodes are available: 2 node(s) had untolerated taint "
            "{dedicated: gpu}.", component="default-scheduler", count=9)
    [finding] = findings(sd401.CHECK, b, "prod", "web")
    assert finding.severity is Severity.ERROR and finding.impact == "unreachable"
    assert "untolerated taint {dedicated: gpu}" in finding.message  # the newest event wins over the condition
    assert "Insufficient cpu" in finding.message  # the other Pod has only its PodScheduled condition
    assert ranked(report(b, "prod", "web")) == ["SD401", "SD501"]


def test_sd401_crashloop_shows_last_exit() -> None:
    b, _pods = web(["crashloop", "running"])
    [finding] = findings(sd401.CHECK, b, "prod", "web")
    assert finding.severity is Severity.WARNING and finding.impact == "degraded"
    assert "CrashLoopBackOff" in finding.title
    assert "last termination Error (exit code 1)" in finding.message
    assert any("--previous" in command for command in finding.next)


def test_sd401_oomkilled() -> None:
    b, pods = web(["running", "running"])
    for pod in pods:
        b.container_waiting(pod, "CrashLoopBackOff", "back-off 40s restarting failed container", restarts=4,
                            last_reason="OOMKilled", last_exit_code=137)
    [finding] = findings(sd401.CHECK, b, "prod", "web")
    assert finding.title.endswith("OOMKilled") and "OOMKilled (exit code 137)" in finding.message
    assert "memory" in finding.fix


@pytest.mark.parametrize(("reason", "message", "category"), [
    ("ImagePullBackOff", 'Back-off pulling image "web:1"', "ImagePullBackOff"),
    ("ErrImagePull", "rpc error: code = Unknown desc = failed to resolve reference", "ImagePullBackOff"),
    ("CreateContainerConfigError", 'couldn\'t find key password in Secret prod/db', "CreateContainerConfigError"),
])
def test_sd401_waiting_reasons(reason: str, message: str, category: str) -> None:
    b, pods = web(["running"])
    b.container_waiting(pods[0], reason, message)
    [finding] = findings(sd401.CHECK, b, "prod", "web")
    assert finding.key == category
    assert message in finding.message
    assert finding.severity is Severity.ERROR


def test_sd401_init_container_stuck_and_crashing() -> None:
    b, pods = web(["running", "running"])
    b.init_container(pods[0], "wait-for-db", "busybox:1.36", state="running", minutes_ago=90)
    b.init_container(pods[1], "migrate", "web-migrate:1", state="crashloop")
    [finding] = findings(sd401.CHECK, b, "prod", "web")
    assert finding.key == "InitContainers"
    assert "init container wait-for-db still running after 90m" in finding.message
    assert "init container migrate: CrashLoopBackOff" in finding.message


def test_sd401_failed_and_evicted_pods() -> None:
    b, _pods = web(["running"])
    evicted = b.pod("prod", "web-old", {"app": "web"}, [b.container("web", "web:1", HTTP)], state="failed")
    evicted["status"].update({"reason": "Evicted", "message": "The node was low on resource: memory."})
    [finding] = findings(sd401.CHECK, b, "prod", "web")
    assert finding.severity is Severity.WARNING
    assert "Evicted" in finding.message and "low on resource" in finding.message


def test_sd401_pending_on_a_volume_says_which() -> None:
    b, pods = web(["running"])
    b.container_waiting(pods[0], "ContainerCreating")
    b.event(pods[0], "FailedMount", 'MountVolume.SetUp failed for volume "certs" : secret "web-tls" not found',
            count=12)
    [finding] = findings(sd401.CHECK, b, "prod", "web")
    assert finding.key == "Pending"
    assert 'FailedMount: MountVolume.SetUp failed for volume "certs"' in finding.message


def test_sd401_leaves_terminating_and_unrecorded_pods_alone() -> None:
    b, pods = web(["running", "running"])
    b.terminate(pods[0])
    del pods[1]["status"]
    pods[1]["status"] = {}
    assert findings(sd401.CHECK, b, "prod", "web") == []


def test_sd401_skips_without_pods() -> None:
    b = new_cluster()
    b.service("prod", "web", {"app": "web"}, PORTS)
    with pytest.raises(Skip):
        findings(sd401.CHECK, b, "prod", "web")


# -- SD402 ------------------------------------------------------------------------------------------


def test_sd402_core_v1_events_and_probe_definition() -> None:
    b, pods = web(["notready", "notready"])
    b.event(pods[0], "Unhealthy", "Readiness probe failed: Get \"http://10.244.0.1:8080/ready\": context deadline "
            "exceeded (Client.Timeout exceeded while awaiting headers)", count=40, minutes_ago=3)
    [finding] = findings(sd402.CHECK, b, "prod", "web")
    assert finding.severity is Severity.ERROR
    assert "httpGet HTTP :8080/ready" in finding.message
    assert "context deadline exceeded" in finding.message and "×40, last 3m ago" in finding.message
    assert any(e.field == "spec.containers[0].readinessProbe" and e.value["httpGet"]["path"] == "/ready"
               for e in finding.evidence)


def test_sd402_events_k8s_io_shape() -> None:
    b, pods = web(["notready", "running"])
    event = b.event_v1(pods[0], "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 500",
                       count=17, minutes_ago=2)
    summary = read_event(event)
    assert summary.count == 17 and summary.message.endswith("statuscode: 500")
    [finding] = findings(sd402.CHECK, b, "prod", "web")
    assert finding.severity is Severity.WARNING
    assert "statuscode: 500\" ×17, last 2m ago (first 32m ago)" in finding.message


def test_sd402_ages_come_from_the_snapshot_not_the_clock() -> None:
    b, pods = web(["notready"])
    b.event(pods[0], "Unhealthy", "Readiness probe failed: dial tcp 10.244.0.1:8080: connect: connection refused",
            count=3, minutes_ago=60 * 24 * 400, series=True)
    [finding] = findings(sd402.CHECK, b, "prod", "web")
    assert "last 400d ago" in finding.message


def test_sd402_ignores_liveness_events_and_ranks_above_sd502() -> None:
    b, pods = web(["notready"])
    b.event(pods[0], "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 503", count=2)
    [finding] = findings(sd402.CHECK, b, "prod", "web")
    assert "Liveness" not in finding.message
    result = report(b, "prod", "web")
    assert ranked(result) == ["SD402", "SD502"]
    assert result.findings[1].caused_by == "SD402" and result.verdict == "unreachable"


def test_sd402_not_for_crashing_or_ready_pods() -> None:
    b, _ = web(["crashloop", "running"])
    assert findings(sd402.CHECK, b, "prod", "web") == []


# -- SD403 ------------------------------------------------------------------------------------------


def test_sd403_missing_gate_condition() -> None:
    b, _pods = web(["running", "running"], readiness_gates=["cloud.google.com/load-balancer-neg-ready"])
    [finding] = findings(sd403.CHECK, b, "prod", "web")
    assert finding.severity is Severity.ERROR
    assert "cloud.google.com/load-balancer-neg-ready" in finding.message
    assert "Their containers are ready" in finding.message
    assert ranked(report(b, "prod", "web")) == ["SD403", "SD502"]


def test_sd403_gate_false_and_satisfied() -> None:
    gate = "target-health.elbv2.k8s.aws/k8s-prod-web"
    b, pods = web(["running", "running"], readiness_gates=[gate], gates_true=[gate])
    assert findings(sd403.CHECK, b, "prod", "web") == []
    b.set_condition(pods[0], gate, False, reason="Elb.RegistrationInProgress", message="Target registration is in "
                    "progress")
    b.set_condition(pods[0], "Ready", False, reason="ReadinessGatesNotReady")
    [finding] = findings(sd403.CHECK, b, "prod", "web")
    assert finding.severity is Severity.WARNING
    assert "Target registration is in progress" in str([e.note for e in finding.evidence])


# -- SD404 ------------------------------------------------------------------------------------------


def test_sd404_terminating_within_and_past_grace() -> None:
    b, pods = web(["running", "running", "running"])
    b.terminate(pods[0], minutes_ago=0.25, grace_seconds=30)
    [finding] = findings(sd404.CHECK, b, "prod", "web")
    assert finding.severity is Severity.WARNING and finding.impact == "degraded"
    assert "terminating for 15s" in finding.message and "past its" not in finding.message
    b2, pods2 = web(["running"])
    b2.terminate(pods2[0], minutes_ago=300, grace_seconds=30, finalizers=["example.com/drain"])
    [stuck] = findings(sd404.CHECK, b2, "prod", "web")
    assert "terminating for 5h," in stuck.message and "past its 30s grace period" in stuck.message
    assert "example.com/drain" in stuck.message and "--force" in stuck.fix
    assert "No other Pod is left" in stuck.message


# -- SD405 ------------------------------------------------------------------------------------------


def test_sd405_threshold_and_reason() -> None:
    b, pods = web(["running", "running"])
    b.restarted(pods[0], 5, reason="OOMKilled", exit_code=137, minutes_ago=12)
    b.restarted(pods[1], 4, minutes_ago=12)
    [finding] = findings(sd405.CHECK, b, "prod", "web")
    assert finding.severity is Severity.WARNING
    assert "5 restarts, last OOMKilled (exit code 137) 12m ago" in finding.message
    assert pods[1]["metadata"]["name"] not in finding.message
    assert "memory" in finding.fix
    assert len(findings(sd405.CHECK, b, "prod", "web", Options(restart_threshold=4))[0].evidence) == 2
    assert findings(sd405.CHECK, b, "prod", "web", Options(restart_threshold=6)) == []


def test_sd405_old_restarts_are_info() -> None:
    b, pods = web(["running"])
    b.restarted(pods[0], 30, minutes_ago=60 * 24 * 3)
    [finding] = findings(sd405.CHECK, b, "prod", "web")
    assert finding.severity is Severity.INFO
    assert report(b, "prod", "web").verdict == "ok"
