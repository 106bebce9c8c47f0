"""Which recorded DNS answers speak about a Service, and what they should have said.

Shared by the step-7 checks: a :class:`DNSAnswer` records the name *as the client asked it*; here
it is mapped to the Service that name means from where it was asked, and compared with the
records :mod:`svcdoctor.dns.records` expects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from svcdoctor import k8s
from svcdoctor.dns.client import is_short_name, namespace_of_source, service_named
from svcdoctor.dns.cluster_dns import dns_service_ips
from svcdoctor.snapshot import DNSAnswer, Snapshot

#: Names a control query asks: they exist in every cluster, so their failure is the DNS's own.
CONTROL_SERVICE = ("default", "kubernetes")


@dataclass(frozen=True)
class AnswerAbout:
    """A recorded answer and how it relates to the target Service."""

    answer: DNSAnswer
    #: ``service``: it names the target; ``short-elsewhere``: the target's short name asked from
    #: another namespace (it means a Service of that namespace, not the target).
    relation: str
    #: The namespace it was asked from ("" when unknown).
    from_namespace: str


def answers_about(snapshot: Snapshot, namespace: str, name: str, zone: str) -> Iterator[AnswerAbout]:
    """The recorded answers to address queries (A/AAAA/CNAME) for the Service ``namespace/name``."""
    for answer in snapshot.dns_answers:
        if answer.type not in ("A", "AAAA", "CNAME"):
            continue
        from_namespace = namespace_of_source(answer.source)
        if is_short_name(answer.name) and not from_namespace:
            from_namespace = namespace  # nothing says otherwise: a client of the Service's namespace
        meant = service_named(answer.name, from_namespace, zone)
        if meant == (namespace, name):
            yield AnswerAbout(answer, "service", from_namespace)
        elif is_short_name(answer.name) and answer.name.lower() == name.lower() and from_namespace != namespace:
            yield AnswerAbout(answer, "short-elsewhere", from_namespace)


def is_control(answer: DNSAnswer, zone: str) -> bool:
    """Whether ``answer`` is the control query for ``kubernetes.default``."""
    return service_named(answer.name, namespace_of_source(answer.source), zone) == CONTROL_SERVICE


def control_answers(snapshot: Snapshot, zone: str) -> list[DNSAnswer]:
    return [a for a in snapshot.dns_answers if a.type == "A" and is_control(a, zone)]


def addresses(answer: DNSAnswer) -> set[str]:
    """The addresses among an answer's data (CNAME/SRV entries left out)."""
    return {str(item) for item in answer.answers if isinstance(item, str)}


def cnames(answer: DNSAnswer) -> list[str]:
    return [str(item.get("value")) for item in answer.answers
            if isinstance(item, dict) and str(item.get("type", "")).upper() == "CNAME"]


def failed(answer: DNSAnswer) -> bool:
    """No usable answer: an error rcode, or NOERROR with nothing in it."""
    return answer.rcode != "NOERROR" or not answer.answers


def whose_address(snapshot: Snapshot, address: str) -> str:
    """What an address belongs to, in words ("" when the snapshot does not know it)."""
    for service in snapshot.services:
        spec = k8s.spec(service)
        ips = [k8s.cluster_ip(service), *[str(ip) for ip in k8s.as_list(spec.get("clusterIPs"))]]
        if address in ips:
            return f"the ClusterIP of Service {k8s.namespace(service)}/{k8s.name(service)}"
    for pod in snapshot.pods_with_ip(address):
        state = "ready" if k8s.pod_is_ready(pod) else "not ready"
        return f"Pod {k8s.namespace(pod)}/{k8s.name(pod)} ({state})"
    if address in dns_service_ips(snapshot):
        return "the cluster DNS Service"
    return ""


def unmatched_answers(snapshot: Snapshot, zone: str) -> list[DNSAnswer]:
    """The recorded answers about names that mean nothing the snapshot holds (no such Service, Pod or
    ExternalName target): they cannot speak for any Service, and are reported rather than dropped."""
    external = {str(k8s.spec(service).get("externalName") or "").lower().rstrip(".")
                for service in snapshot.services if k8s.service_type(service) == "ExternalName"}
    zone_suffix = "." + zone.lower().rstrip(".")
    # A short name means a Service of the namespace it was asked from — one the checks may judge as
    # "asked from elsewhere" (SD704): any Service of that name makes it evidence about something.
    short_names = {k8s.name(service).lower() for service in snapshot.services}
    result = []
    for answer in snapshot.dns_answers:
        name = answer.name.lower().rstrip(".")
        labels = [label for label in name.split(".") if not label.startswith("_")]  # SRV: _port._proto.
        bare = ".".join(labels)
        if not bare or is_control(answer, zone) or bare in external:
            continue
        if answer.type == "PTR" or bare.endswith(".in-addr.arpa") or bare.endswith(".ip6.arpa"):
            continue  # reverse names are judged by the address they hold, not by a Service name
        if "." not in bare and bare in short_names:
            continue
        meant = service_named(bare, namespace_of_source(answer.source), zone)
        if meant is not None and snapshot.service(*meant) is not None:
            continue
        inner = bare[: -len(zone_suffix)] if bare.endswith(zone_suffix) else bare
        parts = inner.split(".")
        if len(parts) == 4 and parts[3] == "svc" and snapshot.service(parts[2], parts[1]) is not None:
            continue  # a headless Service's per-endpoint name: host.service.namespace.svc
        if len(parts) == 3 and parts[2] == "pod" and snapshot.pods_with_ip(parts[0].replace("-", ".")):
            continue  # a Pod's own A record: 10-244-1-5.namespace.pod
        result.append(answer)
    return result
