"""How a client resolves a name: its resolv.conf as the kubelet writes it, and the search order.

The kubelet builds a Pod's resolv.conf from ``dnsPolicy`` and ``dnsConfig``:

- ``ClusterFirst`` (the default): the cluster DNS Service, search ``<ns>.svc.<zone> svc.<zone>
  <zone>`` (plus the node's search domains), ``options ndots:5``. A ``hostNetwork`` Pod with
  ``ClusterFirst`` silently gets the node's resolver instead.
- ``ClusterFirstWithHostNet``: the cluster settings, also for ``hostNetwork`` Pods.
- ``Default``: the node's resolv.conf; cluster names are unknown to it.
- ``None``: only what ``dnsConfig`` lists.

``dnsConfig`` is merged on top: nameservers and searches appended (duplicates dropped), options
replace those of the same name. The search order is glibc's ``res_nsearch``: a name ending in a
dot is asked as is; a name with at least ``ndots`` dots is asked as is first, then with each search
domain; a shorter name is asked with each search domain first and as is last.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.k8s import Obj

#: ndots of a node's resolv.conf when nothing says otherwise (the glibc default).
NODE_NDOTS = 1
CLUSTER_NDOTS = 5


@dataclass(frozen=True)
class ResolverConfig:
    """A client's effective resolver settings."""

    #: The dnsPolicy in force (after the hostNetwork rule), e.g. ``ClusterFirst``.
    policy: str
    #: Nameservers in order; the cluster DNS address(es) when the policy uses cluster DNS.
    nameservers: tuple[str, ...]
    searches: tuple[str, ...]
    ndots: int
    #: Whether the cluster DNS Service is among the nameservers.
    uses_cluster_dns: bool
    #: Whether the node's own resolv.conf is the base (its content is not in the snapshot).
    uses_node_resolver: bool
    #: Why, in plain words (for evidence).
    explanation: str


def cluster_searches(namespace: str, zone: str) -> tuple[str, ...]:
    """The search list the kubelet gives a ``ClusterFirst`` Pod of ``namespace``."""
    return (f"{namespace}.svc.{zone}", f"svc.{zone}", zone)


def _dedupe(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item.rstrip(".").lower() for item in items if item))


def resolver_for_pod(pod: Obj, cluster_dns: Sequence[str], zone: str) -> ResolverConfig:
    """The resolver settings the kubelet writes for ``pod`` (``cluster_dns``: the kube-dns ClusterIPs)."""
    spec = k8s.spec(pod)
    namespace = k8s.namespace(pod)
    declared = str(spec.get("dnsPolicy") or "ClusterFirst")
    host_network = bool(spec.get("hostNetwork"))
    policy = declared
    if declared == "ClusterFirst" and host_network:
        policy = "Default"
        explanation = "dnsPolicy ClusterFirst with hostNetwork: the kubelet uses the node's resolv.conf"
    elif declared == "ClusterFirstWithHostNet":
        policy = "ClusterFirst"
        explanation = "dnsPolicy ClusterFirstWithHostNet: cluster DNS"
    elif declared == "Default":
        explanation = "dnsPolicy Default: the node's resolv.conf, which knows no cluster names"
    elif declared == "None":
        explanation = "dnsPolicy None: only spec.dnsConfig"
    else:
        policy = "ClusterFirst"
        explanation = "dnsPolicy ClusterFirst: cluster DNS"
    nameservers: list[str] = []
    searches: list[str] = []
    ndots = NODE_NDOTS
    if policy == "ClusterFirst":
        nameservers = list(cluster_dns)
        searches = list(cluster_searches(namespace, zone))
        ndots = CLUSTER_NDOTS
    dns_config = k8s.as_map(spec.get("dnsConfig"))
    nameservers += [str(n) for n in k8s.as_list(dns_config.get("nameservers")) if n]
    searches += [str(s) for s in k8s.as_list(dns_config.get("searches")) if s]
    for option in k8s.as_list(dns_config.get("options")):
        if isinstance(option, Mapping) and option.get("name") == "ndots":
            with contextlib.suppress(ValueError):
                ndots = int(str(option.get("value")))
    servers = tuple(dict.fromkeys(nameservers))
    return ResolverConfig(
        policy=policy, nameservers=servers, searches=_dedupe(searches), ndots=ndots,
        uses_cluster_dns=bool(set(servers) & set(cluster_dns)),
        uses_node_resolver=policy == "Default",
        explanation=explanation,
    )


def resolver_in_namespace(namespace: str, cluster_dns: Sequence[str], zone: str) -> ResolverConfig:
    """The settings of an ordinary ``ClusterFirst`` Pod of ``namespace`` (a client in general)."""
    return ResolverConfig("ClusterFirst", tuple(cluster_dns), cluster_searches(namespace, zone), CLUSTER_NDOTS,
                          True, False, f"a ClusterFirst Pod in namespace {namespace}")


def search_order(name: str, config: ResolverConfig) -> list[str]:
    """The absolute names a glibc client asks, in order, to resolve ``name``."""
    if name.endswith("."):
        return [name.lower()]
    bare = name.lower()
    with_search = [f"{bare}.{domain}." for domain in config.searches]
    if bare.count(".") >= config.ndots:
        return [f"{bare}.", *with_search]
    return [*with_search, f"{bare}."]


def namespace_of_source(source: str) -> str:
    """The namespace of a ``NS/POD`` source ("" for a node, an address or nothing)."""
    if "/" not in source or source.startswith("node/"):
        return ""
    return source.split("/", 1)[0].strip()


def service_named(name: str, from_namespace: str, zone: str) -> tuple[str, str] | None:
    """Which Service ``(namespace, name)`` a name means for a ClusterFirst client of ``from_namespace``.

    ``web`` → (from_namespace, web); ``web.shop`` / ``web.shop.svc`` / ``web.shop.svc.<zone>`` →
    (shop, web). None for other names (per-endpoint names, names outside the zone).
    """
    bare = name.lower().rstrip(".")
    suffix = f".svc.{zone.lower().rstrip('.')}"
    if bare.endswith(suffix):
        bare = bare[: -len(suffix)]
        labels = bare.split(".")
        return (labels[1], labels[0]) if len(labels) == 2 else None
    labels = bare.split(".")
    if len(labels) == 3 and labels[2] == "svc":
        return labels[1], labels[0]
    if len(labels) == 2:
        return labels[1], labels[0]
    if len(labels) == 1 and from_namespace:
        return from_namespace, labels[0]
    return None


def is_short_name(name: str) -> bool:
    """A single label without a trailing dot (``backend``): it means a Service only in its own namespace."""
    return "." not in name


_SPLIT = re.compile(r"[\s,;\"']+")


def host_of(token: str) -> str:
    """The host part of ``http://user@host:80/path``, ``host:80``, ``--flag=host`` or ``host``."""
    text = token.split("=", 1)[1] if token.startswith("-") and "=" in token else token
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.rsplit("@", 1)[-1]
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    if text.startswith("["):
        return ""
    return text.split(":", 1)[0].lower()


def mentions(pod: Mapping[str, Any], name: str) -> list[tuple[str, str]]:
    """(field, value) pairs of the Pod's containers that use ``name`` as a host name."""
    found = []
    wanted = name.lower()
    for index, container in enumerate(k8s.containers(k8s.spec(pod))):
        values: list[tuple[str, str]] = []
        for env_index, env in enumerate(k8s.as_list(container.get("env"))):
            if isinstance(env, Mapping) and isinstance(env.get("value"), str):
                values.append((f"spec.containers[{index}].env[{env_index}].value", env["value"]))
        for key in ("command", "args"):
            for arg_index, arg in enumerate(k8s.as_list(container.get(key))):
                if isinstance(arg, str):
                    values.append((f"spec.containers[{index}].{key}[{arg_index}]", arg))
        for field, value in values:
            if any(host_of(token) == wanted for token in _SPLIT.split(value) if token):
                found.append((field, value))
    return found
