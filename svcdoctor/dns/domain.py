"""The cluster DNS domain, read from the snapshot where it can be.

In order: the ``SnapshotInfo.clusterDomain`` that ``record`` wrote; the zone of the ``kubernetes``
plugin in the CoreDNS Corefile (ConfigMap ``kube-system/coredns``, key ``Corefile``); the kubelet's
``clusterDomain`` (kubeadm's ConfigMap ``kube-system/kubelet-config``, key ``kubelet``); otherwise
the ``--cluster-domain`` flag (default ``cluster.local``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from svcdoctor import k8s
from svcdoctor.k8s import ObjectRef
from svcdoctor.snapshot import Snapshot

DEFAULT_DOMAIN = "cluster.local"
#: Where the domain came from when nothing read names one (the evidence notes and `dns` say it).
DEFAULT_ORIGIN = "the default (cluster.local)"
_COREFILE_MAPS = ("coredns", "rke2-coredns-rke2-coredns", "coredns-coredns")
_KUBERNETES_PLUGIN = re.compile(r"^\s*kubernetes((?:\s+[^\s{]+)*)\s*\{?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class ClusterDomain:
    """The domain and where it was read from (a sentence for evidence)."""

    domain: str
    origin: str
    #: The object it came from, when one did.
    object: ObjectRef | None = None


def corefile_zones(corefile: str) -> list[str]:
    """The zones the ``kubernetes`` plugin serves in a Corefile, in order (reverse zones included)."""
    zones: list[str] = []
    for match in _KUBERNETES_PLUGIN.finditer(corefile):
        for zone in match.group(1).split():
            zone = zone.strip().rstrip(".").lower()
            if zone and zone not in zones:
                zones.append(zone)
    return zones


def corefile_forward_zones(corefile: str) -> list[str]:
    """The non-reverse zones of the ``kubernetes`` plugin (the cluster domain first)."""
    return [zone for zone in corefile_zones(corefile) if not zone.endswith(".arpa")]


def corefile_serves_reverse(corefile: str) -> bool:
    """Whether the Corefile's kubernetes plugin answers PTR queries (``in-addr.arpa``/``ip6.arpa``)."""
    return any(zone.endswith(".arpa") for zone in corefile_zones(corefile))


def corefile_of(snapshot: Snapshot) -> tuple[str, ObjectRef] | None:
    """The CoreDNS Corefile text in the snapshot and the ConfigMap holding it, if recorded."""
    for name in _COREFILE_MAPS:
        config_map = snapshot.get("ConfigMap", "kube-system", name)
        if config_map is None:
            continue
        data = k8s.as_map(config_map.get("data"))
        text = data.get("Corefile")
        if isinstance(text, str) and text.strip():
            return text, k8s.ref(config_map)
    return None


def _kubelet_domain(snapshot: Snapshot) -> tuple[str, ObjectRef] | None:
    candidates = [cm for cm in snapshot.config_maps
                  if k8s.namespace(cm) == "kube-system" and k8s.name(cm).startswith("kubelet-config")]
    for config_map in sorted(candidates, key=k8s.name):
        text = k8s.as_map(config_map.get("data")).get("kubelet")
        if not isinstance(text, str):
            continue
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        if isinstance(config, Mapping) and isinstance(config.get("clusterDomain"), str) and config["clusterDomain"]:
            return str(config["clusterDomain"]).rstrip(".").lower(), k8s.ref(config_map)
    return None


def cluster_domain(snapshot: Snapshot, fallback: str | None = None) -> ClusterDomain:
    """The cluster domain: from the snapshot if it tells, else ``fallback`` (``--cluster-domain``)."""
    if snapshot.info.cluster_domain:
        return ClusterDomain(snapshot.info.cluster_domain.rstrip(".").lower(), "SnapshotInfo clusterDomain")
    corefile = corefile_of(snapshot)
    if corefile is not None:
        zones = corefile_forward_zones(corefile[0])
        if zones:
            return ClusterDomain(zones[0], f"the kubernetes plugin of the Corefile in {corefile[1]}", corefile[1])
    kubelet = _kubelet_domain(snapshot)
    if kubelet is not None:
        return ClusterDomain(kubelet[0], f"clusterDomain of the kubelet config in {kubelet[1]}", kubelet[1])
    if fallback:
        origin = "--cluster-domain (its default)" if fallback == DEFAULT_DOMAIN else "--cluster-domain"
        return ClusterDomain(fallback.rstrip(".").lower(), origin)
    return ClusterDomain(DEFAULT_DOMAIN, DEFAULT_ORIGIN)
