"""Write the rules kube-proxy would write for a set of Services, for tests and benchmarks.

:func:`iptables_rules` produces ``iptables-restore`` input shaped like kube-proxy's iptables
mode (hook jumps, KUBE-SERVICES / KUBE-NODEPORTS dispatch, KUBE-SVC / KUBE-SVL / KUBE-EXT /
KUBE-FW / KUBE-SEP chains with kube-proxy's hashed names, statistic splits, recent-module
affinity, masquerade marking, "has no endpoints" rejects, "has no local endpoints" drops).
:func:`nft_rules` produces the ``nft -f`` transaction of kube-proxy's nftables mode (the
``ip kube-proxy`` table, its maps and verdict maps, service / external / endpoint chains,
numgen splits, affinity sets). Both follow the structure of the rules in kube-proxy's own unit
tests (../shared/oracles/kube-proxy); they are written from that structure, not copied code.

The input is what the data plane is *given* — a Service and the endpoints kube-proxy believes
in — so a test can hand it stale or missing endpoints on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from svcdoctor import k8s
from svcdoctor.endpoints import Endpoint
from svcdoctor.k8s import Obj

MASQ_MARK = "0x4000"


@dataclass(frozen=True)
class ProxyInput:
    """One Service and the endpoints kube-proxy programs for it."""

    service: Obj
    endpoints: Sequence[Endpoint]


def _hash(text: str, length: int) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:length]


def service_port_name(service: Obj, port: Mapping[str, object]) -> str:
    base = f"{k8s.namespace(service)}/{k8s.name(service)}"
    return f"{base}:{port.get('name')}" if port.get("name") else base


def _port_endpoints(endpoints: Iterable[Endpoint], port_name: str, protocol: str, node: str | None = None,
                    ) -> list[tuple[str, int, str]]:
    chosen = [endpoint for endpoint in endpoints if endpoint.ready and (node is None or endpoint.node == node)]
    if not chosen:
        chosen = [endpoint for endpoint in endpoints
                  if endpoint.serving and endpoint.terminating and (node is None or endpoint.node == node)]
    result = []
    for endpoint in chosen:
        for port in endpoint.ports:
            if port.name == port_name and port.protocol.upper() == protocol.upper():
                result.append((endpoint.address, port.port, endpoint.node))
    return sorted(set(result))


def _addresses(service: Obj) -> tuple[str, list[str], list[str]]:
    spec = k8s.spec(service)
    balancers = [str(item.get("ip")) for item in
                 k8s.as_list(k8s.as_map(k8s.status(service).get("loadBalancer")).get("ingress"))
                 if isinstance(item, Mapping) and item.get("ip")]
    return (str(spec.get("clusterIP") or ""), [str(ip) for ip in k8s.as_list(spec.get("externalIPs"))], balancers)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def iptables_rules(inputs: Sequence[ProxyInput], *, node: str, cluster_cidr: str, affinity: bool = True) -> str:
    """``iptables-restore`` input for the filter and nat tables, as kube-proxy's iptables mode."""
    filter_chains = ["KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL",
                     "KUBE-SERVICES"]
    filter_rules = [
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" '
        "-j KUBE-PROXY-FIREWALL",
        '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" '
        "-j KUBE-EXTERNAL-SERVICES",
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" '
        "-j KUBE-PROXY-FIREWALL",
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" '
        "-j KUBE-EXTERNAL-SERVICES",
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" '
        "-j KUBE-PROXY-FIREWALL",
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        f'-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark {MASQ_MARK}/{MASQ_MARK} '
        "-j ACCEPT",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate '
        "RELATED,ESTABLISHED -j ACCEPT",
    ]
    # An insertion-ordered set: thousands of chains are looked up while the rules are written.
    nat_chains = dict.fromkeys(["KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-SERVICES"])
    nat_rules = [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}",
        f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
    ]
    service_rules: list[str] = []
    chain_rules: list[str] = []
    for item in inputs:
        service = item.service
        spec = k8s.spec(service)
        cluster_ip, external_ips, balancer_ips = _addresses(service)
        local_policy = spec.get("externalTrafficPolicy") == "Local"
        timeout = int(k8s.as_map(k8s.as_map(spec.get("sessionAffinityConfig")).get("clientIP"))
                      .get("timeoutSeconds") or 10800)
        sticky = affinity and spec.get("sessionAffinity") == "ClientIP"
        source_ranges = [str(text).strip() for text in k8s.as_list(spec.get("loadBalancerSourceRanges"))]
        for port in k8s.service_ports(service):
            name = service_port_name(service, port)
            protocol = str(port.get("protocol") or "TCP").lower()
            number = int(port.get("port") or 0)
            node_port = int(port.get("nodePort") or 0)
            suffix = _hash(name + protocol, 16)
            svc, ext, svl, fw = (f"KUBE-SVC-{suffix}", f"KUBE-EXT-{suffix}", f"KUBE-SVL-{suffix}",
                                 f"KUBE-FW-{suffix}")
            endpoints = _port_endpoints(item.endpoints, str(port.get("name") or ""), protocol)
            local_endpoints = [endpoint for endpoint in endpoints if endpoint[2] == node]
            external = bool(external_ips or balancer_ips or node_port)
            if not endpoints:
                if cluster_ip:
                    filter_rules.append(f"-A KUBE-SERVICES -d {cluster_ip}/32 -p {protocol} -m comment --comment "
                                        f"{_quote(name + ' has no endpoints')} -m {protocol} --dport {number} "
                                        "-j REJECT --reject-with icmp-port-unreachable")
                for ip in external_ips + balancer_ips:
                    filter_rules.append(f"-A KUBE-EXTERNAL-SERVICES -d {ip}/32 -p {protocol} -m comment --comment "
                                        f"{_quote(name + ' has no endpoints')} -m {protocol} --dport {number} "
                                        "-j REJECT --reject-with icmp-port-unreachable")
                if node_port:
                    filter_rules.append(f"-A KUBE-EXTERNAL-SERVICES -p {protocol} -m comment --comment "
                                        f"{_quote(name + ' has no endpoints')} -m addrtype --dst-type LOCAL "
                                        f"-m {protocol} --dport {node_port} -j REJECT --reject-with "
                                        "icmp-port-unreachable")
                continue
            nat_chains[svc] = None
            if cluster_ip:
                service_rules.append(f"-A KUBE-SERVICES -d {cluster_ip}/32 -p {protocol} -m comment --comment "
                                     f"{_quote(name + ' cluster IP')} -m {protocol} --dport {number} -j {svc}")
                chain_rules.append(f"-A {svc} ! -s {cluster_cidr} -d {cluster_ip}/32 -p {protocol} -m comment "
                                   f"--comment {_quote(name + ' cluster IP')} -m {protocol} --dport {number} "
                                   "-j KUBE-MARK-MASQ")
            chain_rules.extend(_dispatch(svc, name, endpoints, protocol, sticky, timeout))
            for address, target_port, _ in endpoints:
                chain_rules.extend(_endpoint_chain(name, protocol, address, target_port, sticky, nat_chains))
            if external:
                nat_chains[ext] = None
                if local_policy:
                    chain_rules += [
                        f"-A {ext} -s {cluster_cidr} -m comment --comment "
                        f"{_quote('pod traffic for ' + name + ' external destinations')} -j {svc}",
                        f"-A {ext} -m comment --comment "
                        f"{_quote('masquerade LOCAL traffic for ' + name + ' external destinations')} "
                        "-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
                        f"-A {ext} -m comment --comment "
                        f"{_quote('route LOCAL traffic for ' + name + ' external destinations')} "
                        f"-m addrtype --src-type LOCAL -j {svc}",
                    ]
                    if local_endpoints:
                        nat_chains[svl] = None
                        chain_rules.append(f"-A {ext} -j {svl}")
                        chain_rules.extend(_dispatch(svl, name, local_endpoints, protocol, sticky, timeout))
                    else:
                        for ip in external_ips + balancer_ips:
                            filter_rules.append(
                                f"-A KUBE-EXTERNAL-SERVICES -d {ip}/32 -p {protocol} -m comment --comment "
                                f"{_quote(name + ' has no local endpoints')} -m {protocol} --dport {number} -j DROP")
                        if node_port:
                            filter_rules.append(
                                f"-A KUBE-EXTERNAL-SERVICES -p {protocol} -m comment --comment "
                                f"{_quote(name + ' has no local endpoints')} -m addrtype --dst-type LOCAL "
                                f"-m {protocol} --dport {node_port} -j DROP")
                else:
                    chain_rules += [f"-A {ext} -m comment --comment "
                                    f"{_quote('masquerade traffic for ' + name + ' external destinations')} "
                                    "-j KUBE-MARK-MASQ", f"-A {ext} -j {svc}"]
            for ip in external_ips:
                service_rules.append(f"-A KUBE-SERVICES -d {ip}/32 -p {protocol} -m comment --comment "
                                     f"{_quote(name + ' external IP')} -m {protocol} --dport {number} -j {ext}")
            for ip in balancer_ips:
                target = ext
                if source_ranges:
                    target = fw
                    nat_chains[fw] = None
                    for source in source_ranges:
                        chain_rules.append(f"-A {fw} -s {source} -m comment --comment "
                                           f"{_quote(name + ' loadbalancer IP')} -j {ext}")
                    dropped = f"other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL"
                    chain_rules.append(f"-A {fw} -m comment --comment {_quote(dropped)}")
                    filter_rules.append(f"-A KUBE-PROXY-FIREWALL -d {ip}/32 -p {protocol} -m comment --comment "
                                        f"{_quote(name + ' traffic not accepted by ' + fw)} -m {protocol} "
                                        f"--dport {number} -j DROP")
                service_rules.append(f"-A KUBE-SERVICES -d {ip}/32 -p {protocol} -m comment --comment "
                                     f"{_quote(name + ' loadbalancer IP')} -m {protocol} --dport {number} -j {target}")
            if node_port:
                service_rules.append(f"-A KUBE-NODEPORTS -p {protocol} -m comment --comment {_quote(name)} "
                                     f"-m {protocol} --dport {node_port} -j {ext}")
    service_rules.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be '
                         'the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    lines += [f":{chain} - [0:0]" for chain in filter_chains] + filter_rules + ["COMMIT", "*nat",
              ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"]
    lines += [f":{chain} - [0:0]" for chain in dict.fromkeys(nat_chains)] + nat_rules + service_rules + chain_rules
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _sep(name: str, protocol: str, address: str, port: int) -> str:
    return "KUBE-SEP-" + _hash(name + protocol + f"{address}:{port}", 16)


def _dispatch(chain: str, name: str, endpoints: Sequence[tuple[str, int, str]], protocol: str, sticky: bool,
              timeout: int) -> list[str]:
    rules = []
    if sticky:
        for address, port, _ in endpoints:
            sep = _sep(name, protocol, address, port)
            rules.append(f"-A {chain} -m comment --comment {_quote(f'{name} -> {address}:{port}')} -m recent "
                         f"--rcheck --seconds {timeout} --reap --name {sep} --mask 255.255.255.255 --rsource -j {sep}")
    count = len(endpoints)
    for index, (address, port, _) in enumerate(endpoints):
        sep = _sep(name, protocol, address, port)
        statistic = ""
        if index < count - 1:
            statistic = f" -m statistic --mode random --probability {1.0 / (count - index):.11f}"
        rules.append(f"-A {chain} -m comment --comment {_quote(f'{name} -> {address}:{port}')}{statistic} -j {sep}")
    return rules


def _endpoint_chain(name: str, protocol: str, address: str, port: int, sticky: bool,
                    nat_chains: dict[str, None]) -> list[str]:
    sep = _sep(name, protocol, address, port)
    if sep in nat_chains:
        return []
    nat_chains[sep] = None
    recent = f" -m recent --set --name {sep} --mask 255.255.255.255 --rsource" if sticky else ""
    host = f"[{address}]" if ":" in address else address
    return [f"-A {sep} -s {address}/32 -m comment --comment {_quote(name)} -j KUBE-MARK-MASQ",
            f"-A {sep} -p {protocol} -m comment --comment {_quote(name)}{recent} -m {protocol} "
            f"-j DNAT --to-destination {host}:{port}"]


def _nft_base(service: Obj, port: Mapping[str, object], protocol: str) -> str:
    return f"{k8s.namespace(service)}/{k8s.name(service)}/{protocol}/{port.get('name') or ''}"


def _nft_name(prefix: str, base: str) -> str:
    return f"{prefix}-{_hash(base, 8)}-{base}"


def nft_rules(inputs: Sequence[ProxyInput], *, node: str, node_ips: Sequence[str], cluster_cidr: str,
              service_cidr: str = "", affinity: bool = True, dnat_maps: bool = False) -> str:
    """The ``nft -f`` transaction of kube-proxy's nftables mode (IPv4 table ``ip kube-proxy``).

    ``dnat_maps``: as kube-proxy writes it since late 2025 — a Service chain DNATs straight from a
    ``numgen`` map (``dnat ip addr . port to numgen random mod N map { 0 : ADDR . PORT , … }``)
    instead of jumping to one chain per endpoint (endpoint chains stay for session affinity),
    ClusterIP traffic from outside the cluster is marked in ``services``, and hairpin
    connections are masqueraded through the ``hairpin-connections`` set."""
    table = "ip kube-proxy"
    head = [
        f'add table {table} {{ comment "rules for kube-proxy" ; }}',
        f'add set {table} cluster-ips {{ type ipv4_addr ; comment "Active ClusterIPs" ; }}',
        f'add set {table} nodeport-ips {{ type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }}',
        f"add map {table} firewall-ips {{ type ipv4_addr . inet_proto . inet_service : verdict ; }}",
        f"add map {table} no-endpoint-nodeports {{ type inet_proto . inet_service : verdict ; }}",
        f"add map {table} no-endpoint-services {{ type ipv4_addr . inet_proto . inet_service : verdict ; }}",
        f"add map {table} service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict ; }}",
        f"add map {table} service-nodeports {{ type inet_proto . inet_service : verdict ; }}",
    ]
    chains = [
        "cluster-ips-check", "filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }",
        "filter-output-pre-dnat { type filter hook output priority -110 ; }",
        "filter-forward { type filter hook forward priority 0 ; }",
        "filter-input { type filter hook input priority 0 ; }",
        "filter-output { type filter hook output priority 0 ; }", "firewall-check", "mark-for-masquerade",
        "masquerading", "nat-output { type nat hook output priority -100 ; }",
        "nat-postrouting { type nat hook postrouting priority 100 ; }",
        "nat-prerouting { type nat hook prerouting priority -100 ; }", "nodeport-endpoints-check",
        'reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }', "services",
        "service-endpoints-check",
    ]
    sets: list[str] = []
    chain_lines = [f"add chain {table} {chain}" for chain in chains]
    declared: set[str] = set()
    rules = [
        f'add rule {table} cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of '
        'ClusterIPs"',
        f"add rule {table} filter-prerouting-pre-dnat ct state new jump firewall-check",
        f"add rule {table} filter-forward ct state new jump service-endpoints-check",
        f"add rule {table} filter-forward ct state new jump cluster-ips-check",
        f"add rule {table} filter-input ct state new jump nodeport-endpoints-check",
        f"add rule {table} filter-input ct state new jump service-endpoints-check",
        f"add rule {table} filter-output ct state new jump service-endpoints-check",
        f"add rule {table} filter-output-pre-dnat ct state new jump firewall-check",
        f"add rule {table} filter-output ct state new jump cluster-ips-check",
        f"add rule {table} firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips",
        f"add rule {table} mark-for-masquerade mark set mark or {MASQ_MARK}",
        *([f"add rule {table} masquerading meta mark & {MASQ_MARK} != 0 meta mark set meta mark ^ {MASQ_MARK} "
           "masquerade fully-random",
           f"add rule {table} masquerading ct status dnat ip saddr . ip daddr . meta l4proto . th dport "
           "@hairpin-connections masquerade fully-random"] if dnat_maps else
          [f"add rule {table} masquerading mark and {MASQ_MARK} == 0 return",
           f"add rule {table} masquerading mark set mark xor {MASQ_MARK}",
           f"add rule {table} masquerading masquerade fully-random"]),
        f"add rule {table} nat-output jump services",
        f"add rule {table} nat-postrouting jump masquerading",
        f"add rule {table} nat-prerouting jump services",
        f"add rule {table} nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap "
        "@no-endpoint-nodeports",
        f"add rule {table} reject-chain reject",
        f"add rule {table} services ip daddr . meta l4proto . th dport vmap @service-ips",
        f"add rule {table} services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
        f"add rule {table} service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
    ]
    if dnat_maps:
        head.append(f"add set {table} hairpin-connections {{ type ipv4_addr . ipv4_addr . inet_proto . inet_service ; "
                    'comment "service hairpin connections" ; }')
        rules.insert(rules.index(f"add rule {table} services ip daddr . meta l4proto . th dport vmap @service-ips"),
                     f"add rule {table} services ip daddr @cluster-ips ip saddr != {cluster_cidr} meta mark set meta "
                     f'mark | {MASQ_MARK} comment "masquerade clusterIP traffic from outside cluster"')
    if service_cidr:
        rules.insert(1, f'add rule {table} cluster-ips-check ip daddr {{ {service_cidr} }} drop comment "Drop '
                        'traffic to unallocated ClusterIPs"')
    elements: list[str] = []
    if node_ips:
        elements.append(f"add element {table} nodeport-ips {{ {', '.join(node_ips)} }}")
    for item in inputs:
        service = item.service
        spec = k8s.spec(service)
        cluster_ip, external_ips, balancer_ips = _addresses(service)
        local_policy = spec.get("externalTrafficPolicy") == "Local"
        sticky = affinity and spec.get("sessionAffinity") == "ClientIP"
        timeout = int(k8s.as_map(k8s.as_map(spec.get("sessionAffinityConfig")).get("clientIP"))
                      .get("timeoutSeconds") or 10800)
        source_ranges = [str(text).strip() for text in k8s.as_list(spec.get("loadBalancerSourceRanges"))]
        if cluster_ip:
            elements.append(f"add element {table} cluster-ips {{ {cluster_ip} }}")
        for port in k8s.service_ports(service):
            name = service_port_name(service, port)
            protocol = str(port.get("protocol") or "TCP").lower()
            number = int(port.get("port") or 0)
            node_port = int(port.get("nodePort") or 0)
            base = _nft_base(service, port, protocol)
            service_chain, external_chain = _nft_name("service", base), _nft_name("external", base)
            endpoints = _port_endpoints(item.endpoints, str(port.get("name") or ""), protocol)
            local_endpoints = [endpoint for endpoint in endpoints if endpoint[2] == node]
            externals = external_ips + balancer_ips
            if not endpoints:
                for ip in ([cluster_ip] if cluster_ip else []) + externals:
                    elements.append(f"add element {table} no-endpoint-services {{ {ip} . {protocol} . {number} "
                                    f'comment "{name}" : goto reject-chain }}')
                if node_port:
                    elements.append(f"add element {table} no-endpoint-nodeports {{ {protocol} . {node_port} "
                                    f'comment "{name}" : goto reject-chain }}')
                continue
            chain_lines.append(f"add chain {table} {service_chain}")
            if dnat_maps:
                for address, target_port, _ in endpoints:
                    elements.append(f"add element {table} hairpin-connections {{ {address} . {address} . {protocol} . "
                                    f"{target_port} }}")
            if cluster_ip and not dnat_maps:
                rules.append(f"add rule {table} {service_chain} ip daddr {cluster_ip} ip saddr != {cluster_cidr} "
                             "jump mark-for-masquerade")
            if dnat_maps and not sticky:
                rules.append(_nft_dnat_map(table, service_chain, protocol, endpoints))
            else:
                rules.extend(_nft_dispatch(table, service_chain, base, endpoints, sticky))
            for address, target_port, _ in endpoints if not dnat_maps or sticky else ():
                endpoint_base = f"{base}__{address.replace(':', '.')}/{target_port}"
                endpoint_chain = _nft_name("endpoint", endpoint_base)
                if endpoint_chain in declared:
                    continue
                declared.add(endpoint_chain)
                chain_lines.append(f"add chain {table} {endpoint_chain}")
                rules.append(f"add rule {table} {endpoint_chain} ip saddr {address} jump mark-for-masquerade")
                if sticky:
                    affinity_set = _nft_name("affinity", endpoint_base)
                    sets.append(f"add set {table} {affinity_set} {{ type ipv4_addr ; flags dynamic,timeout ; "
                                f"timeout {timeout}s ; }}")
                    rules.append(f"add rule {table} {endpoint_chain} update @{affinity_set} {{ ip saddr }}")
                rules.append(f"add rule {table} {endpoint_chain} meta l4proto {protocol} "
                             f"dnat to {address}:{target_port}")
            if cluster_ip:
                elements.append(f"add element {table} service-ips {{ {cluster_ip} . {protocol} . {number} : "
                                f"goto {service_chain} }}")
            if externals or node_port:
                chain_lines.append(f"add chain {table} {external_chain}")
                if local_policy:
                    rules += [f"add rule {table} {external_chain} ip saddr {cluster_cidr} goto {service_chain} "
                              'comment "short-circuit pod traffic"',
                              f"add rule {table} {external_chain} fib saddr type local jump mark-for-masquerade "
                              'comment "masquerade local traffic"',
                              f"add rule {table} {external_chain} fib saddr type local goto {service_chain} "
                              'comment "short-circuit local traffic"']
                    if local_endpoints:
                        local_chain = _nft_name("local", base)
                        chain_lines.append(f"add chain {table} {local_chain}")
                        rules.append(f"add rule {table} {external_chain} goto {local_chain}")
                        if dnat_maps and not sticky:
                            rules.append(_nft_dnat_map(table, local_chain, protocol, local_endpoints))
                        else:
                            rules.extend(_nft_dispatch(table, local_chain, base, local_endpoints, False))
                    else:
                        for ip in externals:
                            elements.append(f"add element {table} no-endpoint-services {{ {ip} . {protocol} . "
                                            f'{number} comment "{name}" : drop }}')
                        if node_port:
                            elements.append(f"add element {table} no-endpoint-nodeports {{ {protocol} . {node_port} "
                                            f'comment "{name}" : drop }}')
                else:
                    rules += [f"add rule {table} {external_chain} jump mark-for-masquerade",
                              f"add rule {table} {external_chain} goto {service_chain}"]
                for ip in externals:
                    elements.append(f"add element {table} service-ips {{ {ip} . {protocol} . {number} : "
                                    f"goto {external_chain} }}")
                if node_port:
                    elements.append(f"add element {table} service-nodeports {{ {protocol} . {node_port} : "
                                    f"goto {external_chain} }}")
                if source_ranges and balancer_ips:
                    firewall_chain = _nft_name("firewall", base)
                    chain_lines.append(f"add chain {table} {firewall_chain}")
                    rules.append(f"add rule {table} {firewall_chain} ip saddr != {{ {', '.join(source_ranges)} }} drop")
                    for ip in balancer_ips:
                        elements.append(f"add element {table} firewall-ips {{ {ip} . {protocol} . {number} : "
                                        f"goto {firewall_chain} }}")
    return "\n".join(head + sets + chain_lines + rules + elements) + "\n"


def _nft_dnat_map(table: str, chain: str, protocol: str, endpoints: Sequence[tuple[str, int, str]]) -> str:
    """kube-proxy's Service chain rule since late 2025: DNAT straight from a numgen map of the endpoints."""
    mapping = " , ".join(f"{index} : {address} . {port}" for index, (address, port, _) in enumerate(endpoints))
    return (f"add rule {table} {chain} meta l4proto {protocol} dnat ip addr . port to numgen random mod "
            f"{len(endpoints)} map {{ {mapping} }}")


def _nft_dispatch(table: str, chain: str, base: str, endpoints: Sequence[tuple[str, int, str]],
                  sticky: bool) -> list[str]:
    rules = []
    targets = []
    for address, port, _ in endpoints:
        endpoint_base = f"{base}__{address.replace(':', '.')}/{port}"
        endpoint_chain = _nft_name("endpoint", endpoint_base)
        targets.append(endpoint_chain)
        if sticky:
            rules.append(f"add rule {table} {chain} ip saddr @{_nft_name('affinity', endpoint_base)} "
                         f"goto {endpoint_chain}")
    mapping = " , ".join(f"{index} : goto {target}" for index, target in enumerate(targets))
    rules.append(f"add rule {table} {chain} numgen random mod {len(targets)} vmap {{ {mapping} }}")
    return rules


def loadable_iptables(text: str) -> str:
    """kube-proxy's test data as the kernel accepts it: multi-word comments quoted, ``nfacct``
    matches (pure counters, which need objects made with the nfacct tool) removed."""
    text = re.sub(r" -m nfacct --nfacct-name \S+", "", text)
    return re.sub(r'--comment ((?:[^"\s-][^\s]*)(?: [^"\s-][^\s]*)+) (?=-)',
                  lambda match: f'--comment "{match.group(1)}" ', text)


def ordered_nft_transaction(text: str) -> str:
    """An ``nft -f`` transaction with tables, then sets and maps, then chains, then rules and
    elements (kube-proxy's test data is sorted by name, which ``nft -f`` cannot load)."""
    order = {"table": 0, "set": 1, "map": 1, "chain": 2, "rule": 3, "element": 3}
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    lines.sort(key=lambda line: order.get(line.split()[1], 4) if len(line.split()) > 1 else 4)
    return "\n".join(lines) + "\n"


def proxy_inputs(objects: Sequence[Obj],
                 endpoints: Mapping[tuple[str, str], Sequence[Endpoint]] | None = None) -> list[ProxyInput]:
    """Every Service of ``objects`` with its endpoints from the EndpointSlices, except where
    ``endpoints`` (keyed by (namespace, name)) says what kube-proxy believes instead."""
    from svcdoctor.endpoints import service_endpoints
    from svcdoctor.snapshot import build_snapshot

    snapshot = build_snapshot([obj for obj in objects if obj.get("apiVersion") != "svcdoctor.dev/v1"])
    overrides = dict(endpoints or {})
    inputs = []
    for service in snapshot.services:
        key = (k8s.namespace(service), k8s.name(service))
        if k8s.is_headless(service) or k8s.service_type(service) == "ExternalName":
            continue
        found = overrides[key] if key in overrides else service_endpoints(snapshot, *key)
        inputs.append(ProxyInput(service, found))
    return inputs


def as_iptables_save(restore_input: str, when: str = "Fri Nov 20 10:00:00 2026") -> str:
    """Restore input as ``iptables-save`` prints it: header and footer comments around each table."""
    lines: list[str] = []
    for line in restore_input.splitlines():
        if line.startswith("*"):
            lines.append(f"# Generated by iptables-save v1.8.9 (nf_tables) on {when}")
        lines.append(line)
        if line == "COMMIT":
            lines.append(f"# Completed on {when}")
    return "\n".join(lines) + "\n"


def ipvsadm_text(inputs: Sequence[ProxyInput], *, node: str, node_ips: Sequence[str]) -> str:
    """``ipvsadm -Ln`` as kube-proxy's IPVS mode leaves it: one virtual server per address and port."""
    lines = ["IP Virtual Server version 1.2.1 (size=4096)", "Prot LocalAddress:Port Scheduler Flags",
             "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"]
    for item in inputs:
        service = item.service
        spec = k8s.spec(service)
        cluster_ip, external_ips, balancer_ips = _addresses(service)
        sticky = spec.get("sessionAffinity") == "ClientIP"
        timeout = int(k8s.as_map(k8s.as_map(spec.get("sessionAffinityConfig")).get("clientIP"))
                      .get("timeoutSeconds") or 10800)
        local_policy = spec.get("externalTrafficPolicy") == "Local"
        for port in k8s.service_ports(service):
            protocol = str(port.get("protocol") or "TCP").upper()
            endpoints = _port_endpoints(item.endpoints, str(port.get("name") or ""), protocol)
            local = [endpoint for endpoint in endpoints if endpoint[2] == node]
            virtual = [(ip, int(port.get("port") or 0), endpoints) for ip in [cluster_ip] if ip]
            virtual += [(ip, int(port.get("port") or 0), local if local_policy else endpoints)
                        for ip in external_ips + balancer_ips]
            if port.get("nodePort"):
                virtual += [(ip, int(port["nodePort"]), local if local_policy else endpoints) for ip in node_ips]
            for ip, number, reals in virtual:
                flags = f" persistent {timeout}" if sticky else ""
                lines.append(f"{protocol:<4} {ip}:{number} rr{flags}")
                lines += [f"  -> {address + ':' + str(target):<29} Masq    1      0          0"
                          for address, target, _ in reals]
    return "\n".join(lines) + "\n"


_PRIORITY_TEXT = {-110: "dstnat - 10", -100: "dstnat", 0: "filter", 100: "srcnat"}
_LISTING_REWRITES = (
    (re.compile(r"\bmark set mark or 0x([0-9a-f]+)"), lambda m: f"meta mark set meta mark | 0x{int(m[1], 16):08x}"),
    (re.compile(r"\bmark set mark xor 0x([0-9a-f]+)"), lambda m: f"meta mark set meta mark ^ 0x{int(m[1], 16):08x}"),
    (re.compile(r"\bmark and 0x([0-9a-f]+) == 0\b"), lambda m: f"meta mark & 0x{int(m[1], 16):08x} == 0x00000000"),
    (re.compile(r"(!= |daddr |saddr ){ ([^,{}]+) }"), lambda m: f"{m[1]}{m[2]}"),
    (re.compile(r" , "), lambda m: ", "),
)


def as_nft_listing(transaction: str) -> str:
    """An ``nft -f`` transaction of one table as ``nft list ruleset`` prints it (nested blocks,
    elements inside their sets, symbolic priorities, normalised mark expressions)."""
    table = ""
    table_comment = ""
    set_kinds: dict[str, str] = {}
    set_specs: dict[str, list[str]] = {}
    set_elements: dict[str, list[str]] = {}
    chain_specs: dict[str, list[str]] = {}
    chain_rules: dict[str, list[str]] = {}
    for line in transaction.splitlines():
        words = line.split()
        if len(words) < 4 or words[0] != "add":
            continue
        table = f"{words[2]} {words[3]}"
        kind = words[1]
        name = words[4] if len(words) > 4 else ""
        body = line.split("{", 1)[1].rsplit("}", 1)[0].strip() if "{" in line else ""
        parts = [part.strip() for part in body.split(";") if part.strip()]
        if kind == "table":
            table_comment = body.replace("comment", "", 1).strip(" ;")
        elif kind in ("set", "map"):
            set_kinds[name], set_specs[name], set_elements[name] = kind, parts, []
        elif kind == "chain":
            chain_specs[name], chain_rules[name] = parts, []
        elif kind == "element":
            set_elements.setdefault(name, []).append(body)
        elif kind == "rule":
            rule = line.split(None, 5)[5]
            for pattern, replacement in _LISTING_REWRITES:
                rule = pattern.sub(replacement, rule)
            chain_rules.setdefault(name, []).append(rule)
    out = [f"table {table} {{"]
    if table_comment:
        out.append(f"\tcomment {table_comment}")
    for name, kind in set_kinds.items():
        out.append(f"\t{kind} {name} {{")
        for spec in set_specs[name]:
            if spec.startswith("timeout ") and spec.endswith("s") and spec[8:-1].isdigit():
                seconds = int(spec[8:-1])
                spec = f"timeout {seconds // 3600}h" if seconds % 3600 == 0 else spec
            out.append(f"\t\t{spec}")
        if set_elements.get(name):
            joined = ",\n\t\t\t     ".join(set_elements[name])
            out.append(f"\t\telements = {{ {joined} }}")
        out += ["\t}", ""]
    for name, specs in chain_specs.items():
        out.append(f"\tchain {name} {{")
        for spec in specs:
            if spec.startswith("type "):
                words = spec.split()
                priority = int(words[-1]) if words[-1].lstrip("-").isdigit() else 0
                # nft names dstnat only at prerouting and srcnat only at postrouting.
                symbolic = _PRIORITY_TEXT.get(priority, str(priority))
                if ("dstnat" in symbolic and "prerouting" not in words) or (
                        symbolic == "srcnat" and "postrouting" not in words):
                    symbolic = str(priority)
                words[-1] = symbolic
                out.append(f"\t\t{' '.join(words)}; policy accept;")
            elif spec.startswith("comment"):
                out.append(f"\t\t{spec}")
        out += [f"\t\t{rule}" for rule in chain_rules.get(name, [])]
        out += ["\t}", ""]
    if out[-1] == "":
        out.pop()
    out.append("}")
    return "\n".join(out) + "\n"
