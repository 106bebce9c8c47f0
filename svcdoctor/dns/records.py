"""The DNS records a Service should have, per the Kubernetes DNS-based service discovery spec (1.1.0).

- ClusterIP Service: ``<svc>.<ns>.svc.<zone>`` A/AAAA → the ClusterIP(s); SRV for each *named*
  port ``_<port>._<proto>.<svc>.<ns>.svc.<zone>`` → the Service port on the Service name; PTR of
  each ClusterIP → the Service name.
- Headless Service: the Service name → every *ready* endpoint address (every address with
  ``publishNotReadyAddresses``); ``<hostname>.<svc>.<ns>.svc.<zone>`` per endpoint (the endpoint's
  ``hostname`` — a StatefulSet Pod's name — else CoreDNS's dashed address); SRV per endpoint ×
  named port; PTR of each endpoint address → its per-endpoint name.
- ExternalName Service: the Service name → CNAME ``<externalName>.``.

Names are absolute (they end in a dot) and lower case; comparisons in DNS are case-insensitive.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from svcdoctor import k8s
from svcdoctor.endpoints import Endpoint, service_endpoints
from svcdoctor.k8s import Obj
from svcdoctor.snapshot import Snapshot

#: Annotation older clusters used instead of ``spec.publishNotReadyAddresses``.
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"


@dataclass(frozen=True, order=True)
class Record:
    """One resource record: absolute owner name, type, and data.

    ``data`` is an address for A/AAAA, an absolute name for CNAME/PTR, and ``"<port> <target>"``
    for SRV (priority and weight are left to the implementation by the spec).
    """

    name: str
    type: str
    data: str

    def zone_line(self) -> str:
        """The record as a line of ``svcdoctor dns``: owner, type and the data checked — for SRV the port
        and target only, as in ``-o json`` (priority and weight are the server's to choose)."""
        return f"{self.name:<48} {self.type:<5} {self.data}"


@dataclass(frozen=True)
class ServiceRecords:
    """What ``svcdoctor dns`` shows: a Service's records and, when probed, what a server answered for each."""

    #: ``NAMESPACE/NAME``.
    service: str
    #: The cluster domain and where it was read from (a sentence).
    domain: str
    domain_origin: str
    records: tuple[Record, ...]
    #: The server asked ("" when not probed).
    server: str = ""
    #: One verdict per record (``ok``, ``missing (…)``, ``wrong: …``); empty when not probed.
    answers: tuple[str, ...] = ()

    @property
    def probed(self) -> bool:
        return bool(self.server)


def absolute(name: str) -> str:
    """``name`` lower-cased and ending in one dot."""
    return name.lower().rstrip(".") + "."


def service_fqdn(namespace: str, name: str, zone: str) -> str:
    """``<svc>.<ns>.svc.<zone>.``."""
    return absolute(f"{name}.{namespace}.svc.{zone}")


def reverse_name(address: str) -> str:
    """The PTR owner of an address: ``d.c.b.a.in-addr.arpa.`` or 32 nibbles under ``ip6.arpa.``."""
    return ipaddress.ip_address(address).reverse_pointer + "."


def address_type(address: str) -> str:
    """``A`` for an IPv4 address, ``AAAA`` for IPv6."""
    return "AAAA" if ipaddress.ip_address(address).version == 6 else "A"


def dashed(address: str) -> str:
    """CoreDNS's name for an endpoint without a hostname: ``10-1-0-6``; for IPv6 the compressed
    text with colons as dashes, a zero added where it would start or end with a dash."""
    parsed = ipaddress.ip_address(address)
    if parsed.version == 4:
        return str(parsed).replace(".", "-")
    label = str(parsed).replace(":", "-")
    if label.startswith("-"):
        label = "0" + label
    if label.endswith("-"):
        label += "0"
    return label


def publishes_not_ready(service: Obj) -> bool:
    """Whether DNS lists not-ready endpoints too (``publishNotReadyAddresses`` or the old annotation)."""
    if k8s.spec(service).get("publishNotReadyAddresses"):
        return True
    return str(k8s.object_annotations(service).get(TOLERATE_UNREADY, "")).lower() == "true"


def cluster_ips(service: Obj) -> list[str]:
    """Every ClusterIP of a (non-headless) Service, primary first (dual-stack gives two)."""
    spec = k8s.spec(service)
    addresses = [str(ip) for ip in k8s.as_list(spec.get("clusterIPs")) if ip and ip != "None"]
    primary = k8s.cluster_ip(service)
    if primary and primary != "None" and primary not in addresses:
        addresses.insert(0, primary)
    valid = []
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            continue
        valid.append(address)
    return valid


def dns_endpoints(snapshot: Snapshot, service: Obj) -> list[Endpoint]:
    """The endpoints DNS publishes for a headless Service: ready ones (all with publishNotReady)."""
    everything = service_endpoints(snapshot, k8s.namespace(service), k8s.name(service))
    publish_all = publishes_not_ready(service)
    seen: set[str] = set()
    result = []
    for endpoint in everything:
        if endpoint.address in seen or not (endpoint.ready or publish_all):
            continue
        seen.add(endpoint.address)
        result.append(endpoint)
    return result


def endpoint_hostname(snapshot: Snapshot, service: Obj, endpoint: Endpoint) -> str:
    """The per-endpoint label: the endpoint's ``hostname``, else its Pod's ``spec.hostname`` when the
    Pod's ``subdomain`` is this Service (what the endpoint controller copies), else the dashed address."""
    if endpoint.hostname:
        return endpoint.hostname.lower()
    if endpoint.target is not None and endpoint.target.kind == "Pod":
        pod = snapshot.pod(endpoint.target.namespace, endpoint.target.name)
        if pod is not None:
            pod_spec = k8s.spec(pod)
            if pod_spec.get("hostname") and pod_spec.get("subdomain") == k8s.name(service):
                return str(pod_spec["hostname"]).lower()
    return dashed(endpoint.address)


def _named_ports(service: Obj) -> list[Mapping[str, object]]:
    return [port for port in k8s.service_ports(service) if port.get("name")]


def _srv_owner(port: Mapping[str, object], fqdn: str) -> str:
    return absolute(f"_{port['name']}._{k8s.port_protocol(port).lower()}.{fqdn}")


def expected_records(snapshot: Snapshot, service: Obj, zone: str) -> list[Record]:
    """Every record the spec gives ``service`` in cluster domain ``zone``, sorted."""
    namespace, name = k8s.namespace(service), k8s.name(service)
    fqdn = service_fqdn(namespace, name, zone)
    records: list[Record] = []
    service_type = k8s.service_type(service)
    if service_type == "ExternalName":
        external = str(k8s.spec(service).get("externalName") or "")
        if external:
            records.append(Record(fqdn, "CNAME", absolute(external)))
        return sorted(records)
    if not k8s.is_headless(service):
        for address in cluster_ips(service):
            records.append(Record(fqdn, address_type(address), address))
            records.append(Record(reverse_name(address), "PTR", fqdn))
        for port in _named_ports(service):
            records.append(Record(_srv_owner(port, fqdn), "SRV", f"{port.get('port')} {fqdn}"))
        return sorted(set(records))
    for endpoint in dns_endpoints(snapshot, service):
        host = absolute(f"{endpoint_hostname(snapshot, service, endpoint)}.{fqdn}")
        kind = address_type(endpoint.address)
        records.append(Record(fqdn, kind, endpoint.address))
        records.append(Record(host, kind, endpoint.address))
        records.append(Record(reverse_name(endpoint.address), "PTR", host))
        for port in _named_ports(service):
            records.append(Record(_srv_owner(port, fqdn), "SRV", f"{port.get('port')} {host}"))
    return sorted(set(records))


def reading_order(records: Iterable[Record], service_name: str) -> list[Record]:
    """``records`` in the order a reader looks for them: the Service's own name (``service_name``)
    first, then per-endpoint names, SRV, and PTR last."""
    later = {"SRV": 2, "PTR": 3}
    return sorted(records, key=lambda record: (0 if record.name == service_name else later.get(record.type, 1),
                                               record))


def records_named(records: Iterable[Record], name: str, record_type: str) -> list[Record]:
    """The records of ``records`` with this owner name and type."""
    owner = absolute(name)
    return [r for r in records if r.name == owner and r.type == record_type]


def expected_addresses(snapshot: Snapshot, service: Obj, record_type: str = "A") -> set[str]:
    """The addresses the Service name should resolve to for an A (or AAAA) query."""
    if k8s.service_type(service) == "ExternalName":
        return set()
    if k8s.is_headless(service):
        return {e.address for e in dns_endpoints(snapshot, service) if address_type(e.address) == record_type}
    return {ip for ip in cluster_ips(service) if address_type(ip) == record_type}
