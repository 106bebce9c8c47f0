"""SD201, SD202, SD203: how Service ports meet the selected Pods' container ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.checks.registry import CHECKS
from svcdoctor.engine import diagnose
from svcdoctor.findings import Finding, Severity
from tests.checks.step2 import HTTP, cluster, evidence_values, found, only, snapshot, status
from tests.checks.step2 import diagnose as run_diagnosis

# -- SD201 numeric targetPort ------------------------------------------------------------------


def test_sd201_other_ports_declared_on_every_pod_is_an_error_that_names_the_declared_ports() -> None:
    b = cluster()
    b.deployment("shop", "catalog", {"app": "catalog"},
                 [b.container("catalog", "catalog:1", [*HTTP, {"name": "metrics", "containerPort": 9102}])])
    b.service("shop", "catalog", {"app": "catalog"}, [{"name": "http", "port": 80, "targetPort": 8081}])
    report = run_diagnosis(snapshot(b), "catalog")
    finding = only(report, "SD201")
    # Every Pod lacks the port: unreachable, so an error (the exit code must not pass a report headed
    # LIKELY UNREACHABLE). Declared ports are informational: not proof, so the finding is ``likely``,
    # and the verdict it implies is shown as likely, never as unknown.
    assert finding.severity is Severity.ERROR
    assert report.verdict_confidence == "likely"
    assert finding.confidence == "likely" and finding.impact == "unreachable"
    assert report.verdict == "unreachable"
    assert "Deployment shop/catalog (2 Pods) declares only http (8080/TCP), metrics (9102/TCP)" in finding.message
    assert ["http (8080/TCP)", "metrics (9102/TCP)"] in evidence_values(finding)
    assert "'http'" in finding.fix and "8080" in finding.fix  # the port named like the Service port
    assert finding.subject_field == "spec.ports[0].targetPort"


def test_sd201_pods_without_declared_ports_get_only_a_note() -> None:
    b = cluster()
    b.deployment("shop", "catalog", {"app": "catalog"}, [b.container("catalog", "catalog:1")])
    b.service("shop", "catalog", {"app": "catalog"}, [{"port": 80, "targetPort": 8080}])
    report = run_diagnosis(snapshot(b), "catalog")
    finding = only(report, "SD201")
    assert finding.severity is Severity.INFO
    assert report.verdict == "ok"


def test_sd201_silent_when_declared_and_when_declared_under_another_protocol() -> None:
    b = cluster()
    b.deployment("shop", "catalog", {"app": "catalog"}, [b.container("catalog", "catalog:1", HTTP)])
    b.deployment("shop", "dns", {"app": "dns"},
                 [b.container("dns", "dns:1", [{"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}])])
    b.service("shop", "catalog", {"app": "catalog"}, [{"name": "http", "port": 80, "targetPort": 8080}])
    b.service("shop", "dns", {"app": "dns"}, [{"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"}])
    snap = snapshot(b)
    assert not found(run_diagnosis(snap, "catalog"), "SD201")
    dns = run_diagnosis(snap, "dns")
    assert not found(dns, "SD201")
    mismatch = only(dns, "SD203")  # numeric: forwarded anyway, to a protocol the app likely does not speak
    assert mismatch.severity is Severity.ERROR and mismatch.impact == "unreachable"
    assert mismatch.confidence == "likely"


def test_sd201_names_only_the_workload_that_lacks_the_port() -> None:
    b = cluster()
    b.deployment("shop", "api", {"app": "api", "track": "stable"}, [b.container("api", "api:1", HTTP)])
    b.deployment("shop", "api-next", {"app": "api", "track": "next"},
                 [b.container("api", "api:2", [{"name": "http", "containerPort": 9090}])], replicas=1)
    b.service("shop", "api", {"app": "api"}, [{"name": "http", "port": 80, "targetPort": 8080}])
    finding = only(run_diagnosis(snapshot(b), "api"), "SD201")
    assert "some selected Pods" in finding.message
    assert "Deployment shop/api-next" in finding.message and "Deployment shop/api " not in finding.message


@pytest.mark.parametrize(("probe", "severity"), [
    ({"httpGet": {"path": "/", "port": 8080}}, Severity.ERROR),  # the one declared port is where it serves
    ({"tcpSocket": {"port": 9000}}, Severity.INFO),  # the probe checks another port: no evidence
    (None, Severity.INFO),  # declaring containerPort is optional: the image may serve 8000 too
])
def test_sd201_works_on_template_stand_ins_in_a_static_run(probe: dict | None, severity: Severity) -> None:
    # In manifests mode a workload's template stands in for its Pods (no status at all).
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8000}]}}
    container: dict = {"name": "web", "image": "web:1", "ports": [{"containerPort": 8080}]}
    if probe:
        container["readinessProbe"] = probe
    stand_in = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop",
                                                                "labels": {"app": "web"}},
                "spec": {"containers": [container]}}
    report = run_diagnosis(snapshot(cluster(), static=True, objects=[service, stand_in]), "web")
    assert only(report, "SD201").severity is severity


def test_sd201_several_declared_ports_none_this_one_is_a_note_in_a_live_snapshot() -> None:
    b = cluster()
    ports = [{"name": "admin", "containerPort": 9901}, {"name": "grpc", "containerPort": 9090}]
    b.deployment("shop", "proxy", {"app": "proxy"}, [b.container("proxy", "envoy:1", ports)])
    b.service("shop", "proxy", {"app": "proxy"}, [{"name": "https", "port": 443, "targetPort": 8443}])
    finding = only(run_diagnosis(snapshot(b), "proxy"), "SD201")
    assert finding.severity is Severity.INFO and "optional" in finding.message


def _fake_probe_check(check_id: str, step: int) -> Check:
    """A stand-in symptom check (e.g. SD901 refusals) to prove the cause link, without its real module."""

    def run(context: Context) -> Iterator[Finding]:
        yield CHECK.finding("every Pod refused", subject=context.service_ref)

    CHECK = Check(id=check_id, name="fake", step=step, doc=CheckDoc.brief("fake", "", ""), run=run)
    return CHECK


def test_sd201_explains_refusals_and_sd202_explains_endpointslice_ports() -> None:
    b = cluster()
    b.deployment("shop", "catalog", {"app": "catalog"}, [b.container("catalog", "catalog:1", HTTP)])
    b.service("shop", "catalog", {"app": "catalog"}, [{"name": "http", "port": 80, "targetPort": 80}])
    b.service("shop", "named", {"app": "catalog"}, [{"name": "http", "port": 80, "targetPort": "web"}])
    snap = snapshot(b)
    from svcdoctor.findings import Target

    report = diagnose(Context(snap, Target("shop", "catalog")), (*CHECKS, _fake_probe_check("SD901", 9)))
    assert only(report, "SD901").caused_by == "SD201"
    assert report.findings[0].id == "SD201"
    # The real SD504 (endpoint ports) is the symptom here.
    named = diagnose(Context(snap, Target("shop", "named")), CHECKS)
    assert only(named, "SD504").caused_by == "SD202"
    assert named.findings[0].id == "SD202"


# -- SD202 named targetPort --------------------------------------------------------------------


def test_sd202_no_pod_has_the_name_is_an_error_with_the_near_miss() -> None:
    b = cluster()
    b.deployment("shop", "checkout", {"app": "checkout"},
                 [b.container("checkout", "checkout:1", [{"name": "htpp", "containerPort": 8080}])], replicas=3)
    b.service("shop", "checkout", {"app": "checkout"}, [{"name": "web", "port": 80, "targetPort": "http"}])
    snap = snapshot(b)
    # The controller (played by the builder) keeps the Pods listed, without the port.
    slices = snap.endpoint_slices_for("shop", "checkout")
    assert slices and all(not s.get("ports") for s in slices) and slices[0]["endpoints"]
    report = run_diagnosis(snap, "checkout")
    finding = only(report, "SD202")
    assert finding.severity is Severity.ERROR and report.verdict == "unreachable"
    assert "did you mean 'htpp'?" in finding.message
    assert "'htpp'" in finding.fix
    assert "no selected Pod has it" in finding.message
    assert "no TCP port named 'http'; nearest: 'htpp'" in [e.note for e in finding.evidence]


def test_sd202_some_pods_lack_the_name_is_a_warning_that_counts_them() -> None:
    b = cluster()
    b.deployment("shop", "ledger", {"app": "ledger", "track": "stable"}, [b.container("l", "l:1", HTTP)], replicas=3)
    b.deployment("shop", "ledger-canary", {"app": "ledger", "track": "canary"},
                 [b.container("l", "l:2", [{"name": "metrics", "containerPort": 9100}])], replicas=1)
    b.service("shop", "ledger", {"app": "ledger"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    report = run_diagnosis(snapshot(b), "ledger")
    finding = only(report, "SD202")
    assert finding.severity is Severity.WARNING and report.verdict == "degraded"
    assert "only 3 of 4 Pods serve" in finding.message
    assert "Deployment shop/ledger-canary (1 Pod) has only the port name 'metrics'" in finding.message


def test_sd202_resolves_per_protocol_and_across_containers() -> None:
    b = cluster()
    sidecar = b.container("proxy", "envoy:1", [{"name": "http", "containerPort": 15001}])
    b.deployment("shop", "mesh", {"app": "mesh"}, [b.container("app", "app:1"), sidecar])
    b.deployment("shop", "syslog", {"app": "syslog"},
                 [b.container("s", "s:1", [{"name": "syslog", "containerPort": 514, "protocol": "TCP"}])])
    b.service("shop", "mesh", {"app": "mesh"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    b.service("shop", "syslog", {"app": "syslog"},
              [{"name": "syslog", "port": 514, "targetPort": "syslog", "protocol": "UDP"}])
    snap = snapshot(b)
    assert not found(run_diagnosis(snap, "mesh"), "SD202")  # the second container has it
    syslog = run_diagnosis(snap, "syslog")
    assert not found(syslog, "SD202")  # the name exists, under TCP: SD203's finding
    finding = only(syslog, "SD203")
    assert finding.severity is Severity.ERROR and syslog.verdict == "unreachable"
    assert {"name": "syslog", "containerPort": 514, "protocol": "TCP"} in evidence_values(finding)


def test_sd202_ignores_finished_pods_and_skips_without_pods() -> None:
    b = cluster()
    b.deployment("shop", "job", {"app": "job"}, [b.container("j", "j:1", HTTP)], states=["running"], replicas=1)
    b.pod("shop", "job-old", {"app": "job"}, [b.container("j", "j:0")], state="completed")
    b.service("shop", "job", {"app": "job"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    b.service("shop", "nothing", {"app": "missing"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    snap = snapshot(b)
    assert not found(run_diagnosis(snap, "job"), "SD202")
    nothing = run_diagnosis(snap, "nothing")
    assert status(nothing, "SD202") == "skipped" and found(nothing, "SD301")


# -- SD203 protocol ------------------------------------------------------------------------------


def test_sd203_named_port_of_other_protocol_on_some_pods_is_a_warning() -> None:
    b = cluster()
    b.deployment("shop", "dns", {"app": "dns", "v": "1"},
                 [b.container("d", "d:1", [{"name": "dns", "containerPort": 53, "protocol": "UDP"}])])
    b.deployment("shop", "dns-tcp", {"app": "dns", "v": "2"},
                 [b.container("d", "d:2", [{"name": "dns", "containerPort": 53, "protocol": "TCP"}])], replicas=1)
    b.service("shop", "dns", {"app": "dns"}, [{"name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP"}])
    report = run_diagnosis(snapshot(b), "dns")
    finding = only(report, "SD203")
    assert finding.severity is Severity.WARNING and finding.impact == "degraded"
    assert "Deployment shop/dns-tcp" in finding.message and "dns (53/TCP)" in finding.message
    assert finding.subject_field == "spec.ports[0].protocol"


def test_sd203_silent_when_both_protocols_are_declared() -> None:
    b = cluster()
    both = [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}]
    b.deployment("shop", "dns", {"app": "dns"}, [b.container("d", "d:1", both)])
    b.service("shop", "dns", {"app": "dns"}, [{"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
                                             {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"}])
    report = run_diagnosis(snapshot(b), "dns")
    assert not found(report, "SD203") and not found(report, "SD201")
    assert report.verdict == "ok"


def test_sd202_sidecar_init_containers_serve_named_ports_but_plain_init_containers_do_not() -> None:
    b = cluster()
    sidecar = {"name": "proxy", "image": "envoy:1", "restartPolicy": "Always",
               "ports": [{"name": "http", "containerPort": 15001, "protocol": "TCP"}]}
    plain_init = {"name": "migrate", "image": "migrate:1",
                  "ports": [{"name": "http", "containerPort": 15001, "protocol": "TCP"}]}
    b.deployment("shop", "mesh", {"app": "mesh"}, [b.container("app", "app:1")],
                 extra_spec={"initContainers": [sidecar]})
    b.deployment("shop", "batch", {"app": "batch"}, [b.container("app", "app:1")],
                 extra_spec={"initContainers": [plain_init]})
    b.service("shop", "mesh", {"app": "mesh"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    b.service("shop", "batch", {"app": "batch"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    snap = snapshot(b)
    assert not found(run_diagnosis(snap, "mesh"), "SD202")
    assert only(run_diagnosis(snap, "batch"), "SD202").severity is Severity.ERROR
