"""Step-7 checks over recorded answers and API objects (no network): the cases the scenario folders
do not already pin down."""

from __future__ import annotations

from svcdoctor.engine import diagnose_service
from svcdoctor.findings import Client
from svcdoctor.probe.evidence import dns_answer_object, probe_result_object
from svcdoctor.snapshot import DNSAnswer, ProbeResult, build_snapshot
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


def _failed_control(server: str, source: str = "", rcode: str = "REFUSED") -> dict:
    return dns_answer_object(DNSAnswer("kubernetes.default.svc.cluster.local.", "A", rcode, (), source, server))


def _pod_ip(objects: list[dict], name_prefix: str) -> str:
    return next(str(o["status"]["podIP"]) for o in objects
                if o.get("kind") == "Pod" and o["metadata"]["name"].startswith(name_prefix))


def test_a_control_answer_from_a_resolver_that_is_not_cluster_dns_blames_nothing() -> None:
    """Asked of a laptop's resolver (or --dns-server 8.8.8.8), kubernetes.default does not exist: that
    says nothing about cluster DNS. Before: a certain SD703 "DNS itself is failing"."""
    objects = cluster().build()
    found = ids([*objects, _failed_control("192.168.1.1", "shop/client", "NXDOMAIN")])
    assert "SD703" not in found and found["verdict"] == "ok"
    assert found["steps"][7] == "partial"  # type: ignore[index]
    report = diagnose_service(build_snapshot([*objects, _failed_control("192.168.1.1", "shop/client", "NXDOMAIN")]),
                              "shop", "api")
    step7 = next(step for step in report.steps if step.step == 7)
    assert any("192.168.1.1, which is not the cluster DNS" in item.what for item in step7.missing)
    # Asked of the cluster DNS itself, the same answer is DNS failing.
    assert "SD703" in ids([*objects, _failed_control("10.96.0.10", "shop/client", "NXDOMAIN")])


def test_a_clusterip_answering_outside_the_cluster_is_another_network() -> None:
    """From a laptop whose network routes 10.96/12 elsewhere, the kube-dns ClusterIP 'refuses' while a Pod
    answers (a flat Pod network): not blind (SD905 stays quiet), yet no ClusterIP answer there is the
    cluster's. Before: a certain SD703, and SD903 blaming the node's kube-proxy."""
    objects = cluster().build()
    laptop = "192.168.1.23"
    api_pod = _pod_ip(objects, "api-")
    probes = [probe_result_object(ProbeResult("10.96.0.10", 53, "UDP", "refused", laptop)),
              probe_result_object(ProbeResult(api_pod, 8080, "TCP", "open", laptop))]
    cluster_ip = next(str(o["spec"]["clusterIP"]) for o in objects
                      if o.get("kind") == "Service" and o["metadata"]["name"] == "api")
    probes.append(probe_result_object(ProbeResult(cluster_ip, 80, "TCP", "refused", laptop)))
    unresolved = dns_answer_object(DNSAnswer("api.shop.svc.cluster.local", "A", "NXDOMAIN", (), "", "10.96.0.10"))
    found = ids([*objects, *probes, _failed_control("10.96.0.10"), unresolved])
    assert "SD905" not in found and "SD703" not in found and "SD903" not in found and "SD701" not in found
    assert found["verdict"] == "ok" and found["steps"][7] == "partial"  # type: ignore[index]
    # The same evidence from a Pod of the cluster is the cluster speaking.
    inside = [probe_result_object(ProbeResult("10.96.0.10", 53, "UDP", "refused", "shop/client")),
              probe_result_object(ProbeResult(api_pod, 8080, "TCP", "open", "shop/client")),
              probe_result_object(ProbeResult(cluster_ip, 80, "TCP", "refused", "shop/client"))]
    found_inside = ids([*objects, *inside, _failed_control("10.96.0.10", "shop/client"), unresolved])
    assert "SD703" in found_inside and "SD903" in found_inside and "SD701" in found_inside


def test_probes_from_outside_that_only_a_clusterip_answered_are_blind() -> None:
    """A laptop on a 10.x network: something there refuses for the kube-dns ClusterIP while every Pod IP
    times out. Before: not blind (the DNS Service 'answered'), so every Pod was blamed (SD902) and DNS
    too (SD703); now SD905 says the probes could not see the cluster, and nothing is blamed."""
    objects = cluster().build()
    laptop = "192.168.1.23"
    dns_pod = _pod_ip(objects, "coredns-")
    probes = [probe_result_object(ProbeResult("10.96.0.10", 53, "UDP", "refused", laptop)),
              probe_result_object(ProbeResult(dns_pod, 53, "UDP", "timeout", laptop)),
              probe_result_object(ProbeResult(_pod_ip(objects, "api-"), 8080, "TCP", "timeout", laptop))]
    found = ids([*objects, *probes, _failed_control("10.96.0.10")])
    assert "SD905" in found and "SD902" not in found and "SD703" not in found
    assert found["verdict"] == "unknown"


def test_a_control_failure_beside_a_working_answer_of_the_same_resolver_is_not_dns_failing() -> None:
    objects = cluster().build()
    cluster_ip = next(str(o["spec"]["clusterIP"]) for o in objects
                      if o.get("kind") == "Service" and o["metadata"]["name"] == "api")
    works = dns_answer_object(DNSAnswer("api.shop.svc.cluster.local", "A", "NOERROR", (cluster_ip,), "shop/client",
                                        "10.96.0.10"))
    found = ids([*objects, works, _failed_control("10.96.0.10", "shop/client", "SERVFAIL")])
    assert "SD703" not in found


def test_a_resolver_that_answers_kubernetes_default_wrongly_is_not_this_clusters_dns() -> None:
    """A resolver that gives every name one address (a hijacking or wildcard DNS, another cluster's DNS)
    says nothing about this Service's records. Before: a certain SD702 "resolves to the wrong address"."""
    b = cluster()
    b.namespace("default")
    b.service("default", "kubernetes", None, [{"name": "https", "port": 443}], manage_endpoints=False,
              clusterIP="10.96.0.1", clusterIPs=["10.96.0.1"])
    objects = b.build()
    anything = "203.0.113.9"

    def answer(name: str, address: str) -> dict:
        return dns_answer_object(DNSAnswer(name, "A", "NOERROR", (address,), "shop/client", "10.96.0.10"))

    control, name = "kubernetes.default.svc.cluster.local.", "api.shop.svc.cluster.local"
    hijacked = [answer(control, anything), answer(name, anything)]
    found = ids([*objects, *hijacked], Client("pod", "shop", "client"))
    assert "SD702" not in found and found["steps"][7] == "partial"  # type: ignore[index]
    # The cluster's own DNS (it knows kubernetes.default) giving the wrong address is SD702.
    honest = [answer(control, "10.96.0.1"), answer(name, anything)]
    assert "SD702" in ids([*objects, *honest], Client("pod", "shop", "client"))
