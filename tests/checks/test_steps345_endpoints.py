"""Step 5: SD501/SD502 links, SD503 (stale endpoints) and SD504 (endpoint ports)."""

from __future__ import annotations

from svcdoctor.checks import sd503_endpoints_stale as sd503
from svcdoctor.checks import sd504_endpoint_ports as sd504
from svcdoctor.findings import Severity
from svcdoctor.testing.cluster import ClusterBuilder
from tests.checks.helpers import HTTP, PORTS, findings, new_cluster, ranked, report


def web(replicas: int = 3, ports: list[dict] | None = None):  # type: ignore[no-untyped-def]
    b = new_cluster()
    pods = b.deployment("prod", "web", {"app": "web"}, [b.container("web", "web:1", ports or HTTP)], replicas=replicas)
    b.service("prod", "web", {"app": "web"}, PORTS)
    b.build()  # the endpoint controllers run now; what changes afterwards, they have not seen
    return b, pods


def forget_kind(b: ClusterBuilder, kind: str, name_prefix: str = "web") -> None:
    for obj in [o for o in b.objects if o["kind"] == kind and o["metadata"]["name"].startswith(name_prefix)]:
        b.forget(obj)


# -- SD503 ------------------------------------------------------------------------------------------


def test_sd503_deleted_pod_still_listed() -> None:
    b, pods = web()
    b.forget(pods[0])
    [finding] = findings(sd503.CHECK, b, "prod", "web")
    assert finding.severity is Severity.WARNING
    assert f"Pod prod/{pods[0]['metadata']['name']} no longer exists" in finding.message
    assert ranked(report(b, "prod", "web")) == ["SD503"]


def test_sd503_every_listed_pod_gone_is_an_error() -> None:
    b, pods = web(replicas=2)
    for pod in pods:
        b.forget(pod)
    [finding] = findings(sd503.CHECK, b, "prod", "web")
    assert finding.severity is Severity.ERROR and "No valid ready endpoint" in finding.message


def test_sd503_changed_ip_and_changed_labels() -> None:
    b, pods = web()
    pods[0]["status"]["podIP"] = pods[0]["status"]["podIPs"][0]["ip"] = "10.244.9.9"
    pods[1]["metadata"]["labels"]["app"] = "web-debug"
    [finding] = findings(sd503.CHECK, b, "prod", "web")
    assert "now has IP 10.244.9.9" in finding.message
    assert "no longer matches the selector" in finding.message


def test_sd503_ready_pod_missing_from_endpoints() -> None:
    b, _ = web(replicas=2)
    late = b.pod("prod", "web-manual", {"app": "web"}, [b.container("web", "web:1", HTTP)], age_minutes=30)
    [finding] = findings(sd503.CHECK, b, "prod", "web")
    assert "web-manual" in finding.message and "missing from the endpoints" in finding.message
    assert finding.severity is Severity.WARNING
    assert late["metadata"]["name"] in str([e.object for e in finding.evidence])


def test_sd503_just_ready_pod_is_normal_propagation() -> None:
    b, _ = web(replicas=1)
    late = b.pod("prod", "web-new", {"app": "web"}, [b.container("web", "web:1", HTTP)], age_minutes=3)
    b.set_condition(late, "Ready", False)
    b.set_condition(late, "Ready", True, minutes_ago=0.1)
    assert findings(sd503.CHECK, b, "prod", "web") == []


def test_sd503_no_endpoint_objects_while_pods_are_ready_explains_sd501() -> None:
    b = new_cluster()
    b.deployment("prod", "web", {"app": "web"}, [b.container("web", "web:1", HTTP)], replicas=2)
    b.service("prod", "web", {"app": "web"}, PORTS, manage_endpoints=False)
    b.deployment("prod", "db", {"app": "db"}, [b.container("db", "postgres:16", [{"containerPort": 5432}])])
    b.service("prod", "db", {"app": "db"}, [{"port": 5432}])
    result = report(b, "prod", "web")
    assert ranked(result) == ["SD503", "SD501"]
    assert result.findings[1].caused_by == "SD503"
    assert "No EndpointSlice or Endpoints object exists" in result.findings[0].message


def test_sd503_leaves_pods_without_the_named_port_and_terminating_pods_alone() -> None:
    b = new_cluster()
    b.deployment("prod", "web", {"app": "web"}, [b.container("web", "web:1", HTTP)], replicas=2)
    b.pod("prod", "web-sidecarless", {"app": "web"}, [b.container("web", "web:1", [{"containerPort": 8080}])])
    terminating = b.deployment("prod", "web-old", {"app": "web"}, [b.container("web", "web:0", HTTP)], replicas=1)
    b.service("prod", "web", {"app": "web"}, PORTS)
    b.build()
    b.terminate(terminating[0])
    # Only the legacy Endpoints object, which leaves a Pod without the named port out entirely.
    forget_kind(b, "EndpointSlice")
    assert findings(sd503.CHECK, b, "prod", "web") == []


# -- SD504 ------------------------------------------------------------------------------------------


def test_sd504_pods_without_the_named_port_stay_listed_without_it() -> None:
    b = new_cluster()
    b.deployment("prod", "web", {"app": "web"}, [b.container("web", "web:1", HTTP)], replicas=2)
    b.deployment("prod", "web-canary", {"app": "web", "track": "canary"},
                 [b.container("web", "web:2", [{"name": "web", "containerPort": 8080}])], replicas=1)
    b.service("prod", "web", {"app": "web"}, PORTS)
    [finding] = findings(sd504.CHECK, b, "prod", "web")
    assert finding.severity is Severity.WARNING
    assert "listed without a port named http/TCP" in finding.message and "web-canary" in finding.message


def test_sd504_no_pod_has_the_port() -> None:
    b = new_cluster()
    b.deployment("prod", "web", {"app": "web"}, [b.container("web", "web:1", [{"containerPort": 8080}])])
    b.service("prod", "web", {"app": "web"}, PORTS)
    [finding] = findings(sd504.CHECK, b, "prod", "web")
    assert finding.severity is Severity.ERROR and "No ready endpoint serves http (80/TCP)" in finding.message


def test_sd504_numeric_target_port_not_carried() -> None:
    b = new_cluster()
    b.deployment("prod", "web", {"app": "web"}, [b.container("web", "web:1", HTTP)])
    b.service("prod", "web", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": 8080}])
    b.build()
    for endpoint_slice in [o for o in b.objects if o["kind"] == "EndpointSlice"]:
        endpoint_slice["ports"][0]["port"] = 9090  # written before targetPort was changed
    [finding] = findings(sd504.CHECK, b, "prod", "web")
    assert "carry port http as 9090 while targetPort is 8080" in finding.message


def test_sd504_legacy_endpoints_of_a_multi_port_service_are_fine() -> None:
    b = new_cluster()
    ports = [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9102}]
    b.deployment("prod", "web", {"app": "web"}, [b.container("web", "web:1", ports)])
    b.service("prod", "web", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": "http"},
                                             {"name": "metrics", "port": 9090, "targetPort": "metrics"}])
    b.build()
    forget_kind(b, "EndpointSlice")
    assert findings(sd504.CHECK, b, "prod", "web") == []
    assert report(b, "prod", "web").verdict == "ok"


# -- SD502 links ------------------------------------------------------------------------------------


def test_sd502_from_terminating_pods_names_sd404() -> None:
    b = new_cluster()
    pods = b.deployment("prod", "web", {"app": "web"}, [b.container("web", "web:1", HTTP)], replicas=2)
    for pod in pods:
        b.terminate(pod, minutes_ago=0.2)
    b.service("prod", "web", {"app": "web"}, PORTS)
    result = report(b, "prod", "web")
    assert ranked(result) == ["SD404", "SD502"]
    assert result.findings[1].caused_by == "SD404"
    # Terminating yet serving: kube-proxy falls back to them, so the Service still answers for now.
    assert result.findings[1].severity is Severity.WARNING and "still serving" in result.findings[1].message
    assert result.verdict == "degraded"


def test_sd502_terminating_and_not_serving_is_an_error() -> None:
    b = new_cluster()
    pods = b.deployment("prod", "web", {"app": "web"}, [b.container("web", "web:1", HTTP)], replicas=2,
                        states=["notready", "notready"])
    for pod in pods:
        b.terminate(pod, minutes_ago=0.2)
    b.service("prod", "web", {"app": "web"}, PORTS)
    result = report(b, "prod", "web")
    sd502 = next(f for f in result.findings if f.id == "SD502")
    assert sd502.severity is Severity.ERROR and result.verdict == "unreachable"
