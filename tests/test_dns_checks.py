"""Step-7 checks over recorded answers and API objects (no network): the cases the scenario folders
do not already pin down."""

from __future__ import annotations

from svcdoctor.engine import diagnose_service
from svcdoctor.findings import Client
from svcdoctor.probe.evidence import dns_answer_object
from svcdoctor.snapshot import DNSAnswer, build_snapshot
from svcdoctor.testing.cluster import ClusterBuilder
from svcdoctor.testing.dnslab import add_cluster_dns


def cluster(**client_spec: object) -> ClusterBuilder:
    b = ClusterBuilder()
    for namespace in ("kube-system", "shop"):
        b.namespace(namespace)
    b.node("node-a", "172.18.0.2")
    add_cluster_dns(b)
    http = [{"name": "http", "containerPort": 8080}]
    b.deployment("shop", "api", {"app": "api"}, [b.container("api", "example/api:3", http)])
    b.service("shop", "api", {"app": "api"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    b.pod("shop", "client", {"app": "client"}, [b.container("client", "busybox")], extra_spec=client_spec or None)
    return b


def ids(objects: list[dict], client: Client | None = None) -> dict[str, object]:
    report = diagnose_service(build_snapshot(objects), "shop", "api", client=client)
    return {f.id: f for f in report.findings} | {"verdict": report.verdict, "steps": {
        s.step: s.status for s in report.steps}}


def test_srv_answer_with_the_target_port_instead_of_the_service_port() -> None:
    objects = cluster().build()
    owner = "_http._tcp.api.shop.svc.cluster.local."
    wrong = DNSAnswer(owner, "SRV", "NOERROR", ({"type": "SRV", "value": "8080 api.shop.svc.cluster.local."},))
    right = DNSAnswer(owner, "SRV", "NOERROR", ({"type": "SRV", "value": "80 api.shop.svc.cluster.local."},))
    found = ids([*objects, dns_answer_object(wrong)])
    assert "SD702" in found and "8080" in found["SD702"].message  # type: ignore[attr-defined]
    assert "SD702" not in ids([*objects, dns_answer_object(right)])


def test_no_dns_evidence_skips_the_answer_checks_never_passes_them() -> None:
    found = ids(cluster().build())
    # SD703 read the API objects (DNS is healthy), but no answer was asked for: partial, never a ✔.
    assert found["steps"][7] == "partial"  # type: ignore[index]
    report = diagnose_service(build_snapshot(cluster().build()), "shop", "api")
    statuses = {c.id: c.status for step in report.steps for c in step.checks}
    assert statuses["SD701"] == statuses["SD702"] == "not-checked"
    step7 = next(step for step in report.steps if step.step == 7)
    assert "SD703" in step7.checked and any("no DNS answers" in item.what for item in step7.missing)


def test_host_network_pod_without_cluster_first_with_host_net() -> None:
    objects = cluster(hostNetwork=True).build()
    found = ids(objects, Client("pod", "shop", "client"))
    assert "SD705" in found and "ClusterFirstWithHostNet" in found["SD705"].fix  # type: ignore[attr-defined]
    fixed = ids(cluster(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet").build(), Client("pod", "shop", "client"))
    assert "SD705" not in fixed


def test_dns_policy_none_without_cluster_search_is_a_warning() -> None:
    spec = {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.96.0.10"], "searches": ["corp.example"]}}
    found = ids(cluster(**spec).build(), Client("pod", "shop", "client"))
    assert found["SD705"].severity.value == "warning"  # type: ignore[attr-defined]


def test_control_question_unanswered_is_sd703_even_when_the_objects_look_healthy() -> None:
    objects = cluster().build()
    control = DNSAnswer("kubernetes.default.svc.cluster.local.", "A", "SERVFAIL", (), "", "10.96.0.10")
    name = DNSAnswer("api.shop.svc.cluster.local", "A", "SERVFAIL", (), "", "10.96.0.10")
    found = ids([*objects, dns_answer_object(control), dns_answer_object(name)])
    assert "SD703" in found and found["SD701"].caused_by == "SD703"  # type: ignore[attr-defined]


def test_short_name_that_means_a_same_named_service_elsewhere() -> None:
    b = cluster()
    b.namespace("web")
    other = b.service("web", "api", None, [{"name": "http", "port": 80}], manage_endpoints=False)
    wrong_ip = other["spec"]["clusterIP"]
    objects = b.build()
    answer = DNSAnswer("api", "A", "NOERROR", (wrong_ip,), "web/frontend-1", "10.96.0.10")
    found = ids([*objects, dns_answer_object(answer)])
    assert found["SD702"].caused_by == "SD704"  # type: ignore[attr-defined]
    assert "Service web/api" in found["SD704"].message  # type: ignore[attr-defined]
    assert "the ClusterIP of Service web/api" in found["SD702"].message  # type: ignore[attr-defined]
