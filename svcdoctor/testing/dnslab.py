"""DNS and kube-proxy fixtures on top of :mod:`svcdoctor.testing.netns`: a real dnsmasq serving the
zone a snapshot implies, and iptables rules shaped like kube-proxy's for its Services.

- :func:`zone_of` — every record the Kubernetes DNS spec gives the snapshot's Services (the same
  model svcdoctor checks against, :mod:`svcdoctor.dns.records`); tests then drop or change one
  record to break a scenario on purpose.
- :class:`DnsServer` — Debian's dnsmasq inside a lab namespace: ``--no-resolv --no-hosts
  --conf-file=/dev/null``, listening only on the given address, authoritative for everything
  (unknown names get NXDOMAIN, nothing is forwarded anywhere).
- :func:`kube_proxy_rules` — ``iptables-restore`` input with KUBE-SERVICES / KUBE-SVC / KUBE-SEP
  chains: DNAT from ClusterIP:port to the ready endpoints, REJECT for Services without any (as
  kube-proxy does), and the Services named in ``leave_out`` missing (a broken kube-proxy).
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from svcdoctor import k8s
from svcdoctor.dns.records import Record, expected_records
from svcdoctor.endpoints import service_endpoints
from svcdoctor.snapshot import Snapshot
from svcdoctor.testing.cluster import ClusterBuilder
from svcdoctor.testing.netns import Lab, LabError, in_lab_space


def zone_of(snapshot: Snapshot, zone: str) -> list[Record]:
    """Every record of every Service in the snapshot (A/AAAA, SRV, CNAME; PTRs come with the A records)."""
    records: list[Record] = []
    for service in snapshot.services:
        records += [r for r in expected_records(snapshot, service, zone) if r.type != "PTR"]
    return sorted(set(records))


def dnsmasq_arguments(records: Iterable[Record]) -> list[str]:
    """dnsmasq options that serve exactly ``records``."""
    arguments = []
    for record in records:
        name = record.name.rstrip(".")
        if record.type in ("A", "AAAA"):
            arguments.append(f"--host-record={name},{record.data}")
        elif record.type == "SRV":
            port, target = record.data.split(" ", 1)
            arguments.append(f"--srv-host={name},{target.rstrip('.')},{port},0,100")
        elif record.type == "CNAME":
            arguments.append(f"--cname={name},{record.data.rstrip('.')}")
        elif record.type == "PTR":
            arguments.append(f"--ptr-record={name},{record.data.rstrip('.')}")
    return arguments


@dataclass
class DnsServer:
    """A dnsmasq process in one lab namespace; :meth:`restart` serves new records."""

    lab: Lab
    role: str
    ip: str
    process: subprocess.Popen[str] | None = field(default=None, init=False)

    def start(self, records: Iterable[Record]) -> None:
        if not in_lab_space(self.ip):
            raise LabError(f"{self.ip} is outside the lab's 198.18.0.0/15")
        argv = ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--port=53",
                f"--listen-address={self.ip}", "--bind-interfaces", "--except-interface=lo", "--pid-file=",
                "--user=root", "--local=/#/", "--cache-size=0", "--log-facility=-",
                *dnsmasq_arguments(records)]
        process = self.lab.popen(self.role, argv)
        assert process.stderr is not None
        for _ in range(50):
            line = process.stderr.readline()
            if not line:
                raise LabError(f"dnsmasq in {self.role} exited: {process.poll()}")
            if "cache" in line:  # dnsmasq is bound and serving when it reports its cache
                break
        self.process = process

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def restart(self, records: Iterable[Record]) -> None:
        self.stop()
        self.start(records)


def _chain(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()[:16].upper()
    return f"{prefix}-{digest}"


def kube_proxy_rules(snapshot: Snapshot, *, leave_out: Sequence[str] = (),
                     leave_out_node_ports: Sequence[str] = ()) -> str:
    """kube-proxy-style ``iptables-restore`` input for every Service with a ClusterIP in the lab space:
    ClusterIP DNAT, and NodePorts (KUBE-NODEPORTS, for addresses local to the node).

    ``leave_out``: ``NS/NAME`` of Services whose rules are all missing (a kube-proxy that never
    synced them); ``leave_out_node_ports``: Services whose NodePort rules alone are missing.
    """
    nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
           ":POSTROUTING ACCEPT [0:0]", ":KUBE-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]"]
    nat_rules = ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                 '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']
    filter_rules = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
                    ":KUBE-SERVICES - [0:0]", "-A FORWARD -m conntrack --ctstate NEW -j KUBE-SERVICES",
                    "-A OUTPUT -m conntrack --ctstate NEW -j KUBE-SERVICES"]
    for service in snapshot.services:
        namespace, name = k8s.namespace(service), k8s.name(service)
        ip = k8s.cluster_ip(service)
        if f"{namespace}/{name}" in leave_out or not ip or ip == "None" or not in_lab_space(ip):
            continue
        endpoints = [e for e in service_endpoints(snapshot, namespace, name)
                     if e.ready and ipaddress.ip_address(e.address).version == 4]
        for port in k8s.service_ports(service):
            protocol = k8s.port_protocol(port).lower()
            port_name = str(port.get("name") or "")
            comment = f'"{namespace}/{name}{":" + port_name if port_name else ""}'
            number = int(port.get("port") or 0)
            serving = []
            for endpoint in endpoints:
                for endpoint_port in endpoint.ports:
                    if endpoint_port.name == port_name and endpoint_port.protocol.lower() == protocol:
                        serving.append((endpoint.address, endpoint_port.port))
            if not serving:
                filter_rules.append(f"-A KUBE-SERVICES -d {ip}/32 -p {protocol} -m comment --comment "
                                    f'{comment} has no endpoints" -m {protocol} --dport {number} '
                                    "-j REJECT --reject-with icmp-port-unreachable")
                continue
            service_chain = _chain("KUBE-SVC", namespace, name, port_name, protocol)
            nat.append(f":{service_chain} - [0:0]")
            nat_rules.append(f"-A KUBE-SERVICES -d {ip}/32 -p {protocol} -m comment --comment {comment} "
                             f'cluster IP" -m {protocol} --dport {number} -j {service_chain}')
            node_port = int(port.get("nodePort") or 0)
            if node_port and f"{namespace}/{name}" not in leave_out_node_ports:
                nat_rules.append(f"-A KUBE-NODEPORTS -p {protocol} -m comment --comment {comment}\" "
                                 f"-m {protocol} --dport {node_port} -j {service_chain}")
            for index, (address, target) in enumerate(serving):
                endpoint_chain = _chain("KUBE-SEP", namespace, name, port_name, protocol, address)
                nat.append(f":{endpoint_chain} - [0:0]")
                remaining = len(serving) - index
                chance = (f"-m statistic --mode random --probability {1 / remaining:.11f} "
                          if remaining > 1 else "")
                nat_rules.append(f"-A {service_chain} -m comment --comment {comment} -> {address}:{target}\" "
                                 f"{chance}-j {endpoint_chain}")
                nat_rules.append(f"-A {endpoint_chain} -p {protocol} -m comment --comment {comment}\" "
                                 f"-m {protocol} -j DNAT --to-destination {address}:{target}")
    nat_rules.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports" '
                     "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
    return "\n".join([*nat, *nat_rules, "COMMIT", *filter_rules, "COMMIT", ""])


def add_cluster_dns(builder: ClusterBuilder, *, service_ip: str = "10.96.0.10", states: Sequence[str] = ("running",
                    "running"), nodes: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The kube-dns Service and a CoreDNS Deployment in kube-system, as kubeadm installs them.

    ``states``: one ClusterBuilder Pod state per CoreDNS replica (``crashloop``, ``notready``…).
    Returns the CoreDNS Pods.
    """
    dns_ports = [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                 {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                 {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}]
    readiness = {"httpGet": {"path": "/ready", "port": 8181, "scheme": "HTTP"}, "periodSeconds": 10}
    container = builder.container("coredns", "registry.k8s.io/coredns/coredns:v1.11.3", dns_ports,
                                  readiness=readiness, args=["-conf", "/etc/coredns/Corefile"])
    pods = builder.deployment("kube-system", "coredns", {"k8s-app": "kube-dns"}, [container],
                              replicas=len(states), states=list(states), nodes=nodes,
                              extra_spec={"priorityClassName": "system-cluster-critical", "dnsPolicy": "Default"})
    builder.service("kube-system", "kube-dns", {"k8s-app": "kube-dns"},
                    [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                     {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                     {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}],
                    labels={"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                            "kubernetes.io/name": "CoreDNS"},
                    clusterIP=service_ip, clusterIPs=[service_ip])
    builder.add({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "coredns", "namespace": "kube-system", "resourceVersion": "210",
                              "uid": "5b1e2c64-0d6c-4a8e-9a51-3f0b8e1f6a10",
                              "creationTimestamp": builder.time(60 * 24 * 30)},
                 "data": {"Corefile": COREFILE}})
    return pods


#: kubeadm's default Corefile.
COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
"""


def add_node_local_dns(builder: ClusterBuilder, states: dict[str, str]) -> list[dict[str, Any]]:
    """NodeLocal DNSCache as its manifest (nodelocaldns.yaml) installs it: the ``kube-dns-upstream``
    Service (the kube-dns selector), the ``node-local-dns`` DaemonSet and one cache Pod per node
    (``states``: node → ClusterBuilder Pod state). Returns the cache Pods."""
    builder.service("kube-system", "kube-dns-upstream", {"k8s-app": "kube-dns"},
                    [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                     {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}],
                    labels={"k8s-app": "kube-dns", "kubernetes.io/name": "KubeDNSUpstream"})
    labels = {"k8s-app": "node-local-dns"}
    container = builder.container(
        "node-cache", "registry.k8s.io/dns/k8s-dns-node-cache:1.23.1",
        [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
         {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
         {"name": "metrics", "containerPort": 9253, "protocol": "TCP"}],
        args=["-localip", "169.254.20.10,10.96.0.10", "-conf", "/etc/Corefile", "-upstreamsvc", "kube-dns-upstream"])
    ready = sum(1 for state in states.values() if state == "running")
    daemon_set = builder.add({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": builder._meta("DaemonSet", "kube-system", "node-local-dns", labels, generation=1),
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [container], "hostNetwork": True, "dnsPolicy": "Default",
                                       "priorityClassName": "system-node-critical",
                                       "serviceAccountName": "node-local-dns"}}},
        "status": {"currentNumberScheduled": len(states), "desiredNumberScheduled": len(states),
                   "numberAvailable": ready, "numberReady": ready, "numberMisscheduled": 0,
                   "observedGeneration": 1, "updatedNumberScheduled": len(states)},
    })
    return [builder.pod("kube-system", f"node-local-dns-{node[-1]}q4xz", labels, [container], node=node,
                        state=state, owner=daemon_set, host_network=True, dns_policy="Default")
            for node, state in states.items()]
