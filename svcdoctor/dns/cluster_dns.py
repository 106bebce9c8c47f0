"""The cluster's DNS service as the snapshot shows it: the kube-dns Service and the CoreDNS Pods."""

from __future__ import annotations

from svcdoctor import k8s
from svcdoctor.k8s import Obj
from svcdoctor.selectors import from_service_selector
from svcdoctor.snapshot import Snapshot

DNS_NAMESPACE = "kube-system"
DNS_LABEL = ("k8s-app", "kube-dns")
_DNS_SERVICE_NAMES = ("kube-dns", "coredns", "rke2-coredns-rke2-coredns")


def dns_services(snapshot: Snapshot) -> list[Obj]:
    """The cluster DNS Service(s): labelled ``k8s-app=kube-dns`` in kube-system, or named kube-dns/coredns."""
    found = []
    for service in snapshot.services_in(DNS_NAMESPACE):
        labels = k8s.labels(service)
        if labels.get(DNS_LABEL[0]) == DNS_LABEL[1] or k8s.name(service) in _DNS_SERVICE_NAMES:
            found.append(service)
    found.sort(key=lambda s: (k8s.name(s) != "kube-dns", k8s.name(s)))
    return found


def dns_service_ips(snapshot: Snapshot) -> list[str]:
    """The ClusterIPs a ClusterFirst Pod's resolv.conf names (the kube-dns Service's)."""
    ips: list[str] = []
    for service in dns_services(snapshot):
        ip = k8s.cluster_ip(service)
        if ip and ip != "None" and ip not in ips:
            ips.append(ip)
    return ips


def dns_pods(snapshot: Snapshot) -> list[Obj]:
    """The CoreDNS / kube-dns Pods: those the DNS Service selects, else those labelled k8s-app=kube-dns."""
    pods: dict[tuple[str, str], Obj] = {}
    for service in dns_services(snapshot):
        selector = k8s.as_map(k8s.spec(service).get("selector"))
        if selector:
            for pod in snapshot.select_pods(DNS_NAMESPACE, from_service_selector(selector)):
                pods[(k8s.namespace(pod), k8s.name(pod))] = pod
    if not pods:
        for pod in snapshot.pods_with_label(DNS_NAMESPACE, *DNS_LABEL):
            pods[(k8s.namespace(pod), k8s.name(pod))] = pod
    return [pods[key] for key in sorted(pods)]


def has_dns_objects(snapshot: Snapshot) -> bool:
    """Whether the snapshot recorded the cluster DNS at all (a Service or Pods)."""
    return bool(dns_services(snapshot) or snapshot.pods_with_label(DNS_NAMESPACE, *DNS_LABEL))
