"""Where probes may go: only to addresses that belong to the cluster, never to this machine or its cloud.

The addresses ``--probe`` sends to come from objects that people other than the user may write: a
hand-made EndpointSlice (any namespace editor), a Service's ``status``, a snapshot file someone
sent. So each address is checked before a packet leaves:

- never loopback, unspecified, multicast, link-local or a cloud metadata address (169.254.169.254,
  fd00:ec2::254, Azure's 168.63.129.16, Alibaba's 100.100.100.200) — a probe there would reach
  this machine's own services or its cloud credentials;
- except the cluster DNS addresses kubelet hands Pods: the kube-dns Service, the ``clusterDNS`` of
  the kubelet configuration, and NodeLocal DNSCache's link-local 169.254.20.10 (port 53 only);
- Pod addresses only inside the nodes' ``podCIDR``s, when the Nodes state them.

:func:`refusal` says why an address is refused ("" when it may be probed).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import yaml

from svcdoctor import k8s
from svcdoctor.dns.cluster_dns import dns_service_ips
from svcdoctor.errors import InputError
from svcdoctor.snapshot import Snapshot

#: Cloud metadata and platform endpoints: a probe must never touch them.
METADATA_ADDRESSES = frozenset({"169.254.169.254", "169.254.170.2", "fd00:ec2::254", "168.63.129.16",
                                "100.100.100.200"})
#: NodeLocal DNSCache's default listen address: link-local, yet the DNS server Pods are given.
NODE_LOCAL_DNS = "169.254.20.10"
DNS_PORT = 53

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Bounds:
    """What the snapshot says about the cluster's addresses."""

    #: The nodes' Pod CIDRs (empty when no Node states one: then Pod addresses are not limited).
    pod_networks: tuple[Network, ...] = ()
    #: Addresses kubelet hands Pods as their DNS server.
    dns_addresses: frozenset[str] = frozenset()


def bounds_of(snapshot: Snapshot) -> Bounds:
    networks: list[Network] = []
    for node in snapshot.nodes:
        spec = k8s.spec(node)
        for cidr in [spec.get("podCIDR"), *k8s.as_list(spec.get("podCIDRs"))]:
            try:
                network = ipaddress.ip_network(str(cidr), strict=False) if cidr else None
            except ValueError:
                continue
            if network is not None and network not in networks:
                networks.append(network)
    return Bounds(tuple(networks), frozenset({*dns_service_ips(snapshot), *_kubelet_cluster_dns(snapshot),
                                              NODE_LOCAL_DNS}))


def _kubelet_cluster_dns(snapshot: Snapshot) -> list[str]:
    found: list[str] = []
    for config_map in snapshot.config_maps:
        if k8s.namespace(config_map) != "kube-system" or not k8s.name(config_map).startswith("kubelet-config"):
            continue
        try:
            config = yaml.safe_load(str(k8s.as_map(config_map.get("data")).get("kubelet") or ""))
        except yaml.YAMLError:
            continue
        if isinstance(config, dict):
            found += [str(address) for address in k8s.as_list(config.get("clusterDNS"))]
    return found


def refusal(address: str, port: int, *, pod: bool, bounds: Bounds) -> str:
    """Why ``address`` must not be probed ("" when it may)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if port == DNS_PORT and address in bounds.dns_addresses and not parsed.is_loopback \
            and address not in METADATA_ADDRESSES:
        return ""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if parsed.is_loopback:
        return "a loopback address (this machine)"
    if parsed.is_unspecified or parsed.is_multicast:
        return "not a unicast address"
    if parsed.is_link_local:
        return "a link-local address"
    if pod and bounds.pod_networks and not _inside(parsed, bounds.pod_networks):
        return "outside every node's podCIDR"
    return ""


def _inside(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Iterable[Network]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def checked_probe_timeout(timeout: float) -> float:
    """``--probe-timeout``: seconds, more than 0 and at most 60 (a probe run stays bounded in time)."""
    if not 0 < timeout <= 60:
        raise InputError(f"--probe-timeout {timeout}: give seconds between 0 and 60")
    return timeout


def checked_max_probes(limit: int) -> int:
    """``--max-probes``: from 1 to 4096 (a probe run stays bounded in packets)."""
    if not 1 <= limit <= 4096:
        raise InputError(f"--max-probes {limit}: give a number from 1 to 4096")
    return limit
