"""Step 9's edge: send the probes and DNS questions, return them as evidence in a new Snapshot.

:func:`gather` is what ``svcdoctor check --probe`` calls (through :mod:`svcdoctor.app`) and what
``record --probe`` calls before writing the snapshot (store the new evidence with
:func:`svcdoctor.probe.evidence.evidence_objects`). It only ever sends to addresses taken from
the snapshot's own objects (see :mod:`svcdoctor.probe.plan`), at most ``--max-probes`` of them,
all at once, each waiting at most ``--probe-timeout``; DNS questions go to the cluster DNS Service
(or ``--dns-server``). Where the probes were sent from is recorded in every result.

Use from Python::

    from svcdoctor.probe.gather import gather
    snapshot = gather(snapshot, "shop", "backend", client=None, invocation=Invocation(probe=True))
    # snapshot.probe_results, snapshot.dns_answers
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.dns.client import ResolverConfig, mentions, resolver_for_pod, resolver_in_namespace
from svcdoctor.dns.cluster_dns import dns_service_ips
from svcdoctor.dns.domain import cluster_domain
from svcdoctor.dns.records import cluster_ips, dns_endpoints, service_fqdn
from svcdoctor.errors import InputError
from svcdoctor.findings import Client
from svcdoctor.probe.analysis import POD
from svcdoctor.probe.bounds import DNS_PORT, bounds_of, checked_max_probes, checked_probe_timeout, refusal
from svcdoctor.probe.plan import Plan, ProbeTarget, plan
from svcdoctor.progress import NO_PROGRESS, Progress
from svcdoctor.snapshot import DNSAnswer, ProbeResult, Snapshot

#: Most DNS names asked per run (each walks the search list: up to ~7 questions).
MAX_DNS_QUESTIONS = 12
#: ``connect`` or ``syn``; unset: SYN probes when raw sockets are allowed, else connect.
METHOD_VARIABLE = "SVCDOCTOR_PROBE_METHOD"


@dataclass(frozen=True)
class Question:
    """A name the client would ask, how its resolver is set up, and who is said to ask it."""

    name: str
    type: str
    config: ResolverConfig
    source: str


def _check_budget(invocation: Any) -> tuple[float, int]:
    timeout = checked_probe_timeout(float(getattr(invocation, "probe_timeout", 2.0)))
    limit = checked_max_probes(int(getattr(invocation, "max_probes", 64)))
    return timeout, limit


def _dns_server(invocation: Any, snapshot: Snapshot) -> str:
    server = getattr(invocation, "dns_server", None)
    if server:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise InputError(f"--dns-server {server!r} is not an IP address") from None
        return str(server)
    # From the snapshot: the DNS Service's address is probed as any other, within the bounds.
    bounds = bounds_of(snapshot)
    ips = [ip for ip in dns_service_ips(snapshot) if not refusal(ip, DNS_PORT, pod=False, bounds=bounds)]
    return ips[0] if ips else ""


def local_address(towards: str) -> str:
    """The local address the kernel would use to reach ``towards`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in towards else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((towards, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return ""


def probe_source(snapshot: Snapshot, towards: str) -> str:
    """Where probes leave from: ``NS/POD`` (``NS/POD on node NODE`` when the in-cluster Job sets
    SVCDOCTOR_POD_NAMESPACE, SVCDOCTOR_POD_NAME and SVCDOCTOR_NODE_NAME), ``node/NAME``, or the local address."""
    namespace, name = os.environ.get("SVCDOCTOR_POD_NAMESPACE", ""), os.environ.get("SVCDOCTOR_POD_NAME", "")
    node = os.environ.get("SVCDOCTOR_NODE_NAME", "")
    if namespace and name:
        return f"{namespace}/{name}" + (f" on node {node}" if node else "")
    address = local_address(towards) if towards else ""
    if not address:
        return "this machine (no route to the cluster addresses)"
    for pod in snapshot.pods_with_ip(address):
        if not k8s.spec(pod).get("hostNetwork"):
            return f"{k8s.namespace(pod)}/{k8s.name(pod)}"
    for node_object in snapshot.nodes:
        for item in k8s.as_list(k8s.status(node_object).get("addresses")):
            if isinstance(item, dict) and item.get("address") == address:
                return f"node/{k8s.name(node_object)}"
    return address


def questions(snapshot: Snapshot, namespace: str, name: str, client: Client | None, zone: str,
              dns_ips: Sequence[str]) -> list[Question]:
    """The names (and types) the client would ask for the Service, with its resolver settings."""
    service = snapshot.service(namespace, name)
    fqdn = service_fqdn(namespace, name, zone).rstrip(".")
    pod = snapshot.pod(client.namespace, client.name) if client is not None and client.kind == "pod" else None
    config = resolver_in_namespace(namespace, dns_ips, zone)
    source = ""
    names = [name, f"{name}.{namespace}", fqdn]
    if pod is not None:
        pod_config = resolver_for_pod(pod, dns_ips, zone)
        if not pod_config.uses_node_resolver and pod_config.nameservers:
            config, source = pod_config, f"{k8s.namespace(pod)}/{k8s.name(pod)}"
            same_namespace = k8s.namespace(pod) == namespace
            names = [f"{name}.{namespace}", fqdn]
            if same_namespace or mentions(pod, name):
                names.insert(0, name)
    types = ["A"]
    if service is not None:
        families = [str(f) for f in k8s.as_list(k8s.spec(service).get("ipFamilies"))]
        addresses = cluster_ips(service) + [e.address for e in dns_endpoints(snapshot, service)]
        if "IPv6" in families or any(":" in address for address in addresses):
            types.append("AAAA")
        if "IPv4" not in families and families and not any("." in a for a in addresses):
            types.remove("A")
    result = [Question(asked, record_type, config, source) for asked in names for record_type in types]
    if service is not None and k8s.service_type(service) != "ExternalName":
        for port in k8s.service_ports(service):
            if port.get("name"):
                srv = f"_{port['name']}._{k8s.port_protocol(port).lower()}.{fqdn}."
                result.append(Question(srv, "SRV", config, source))
    return result[:MAX_DNS_QUESTIONS]


def _syn_eligible(target: ProbeTarget) -> bool:
    """SYN probes only for Pod addresses: Service addresses (ClusterIP, NodePort, load balancer) may be
    DNATed on this very host, and a raw socket sees the reply before conntrack turns it back."""
    return target.protocol == "TCP" and target.kind == POD and ":" not in target.ip


def _method(targets: Sequence[ProbeTarget]) -> str:
    wanted = os.environ.get(METHOD_VARIABLE, "")
    if wanted in ("connect", "syn"):
        return wanted
    if not any(_syn_eligible(t) for t in targets):
        return "connect"
    from svcdoctor.probe.syn import raw_sockets_allowed

    return "syn" if raw_sockets_allowed() else "connect"


async def _dns_probe(target: ProbeTarget, zone: str, timeout: float) -> tuple[str, float, tuple[str, list[Any]]]:
    """A UDP port-53 probe: a real DNS question (``kubernetes.default``); any answer means open."""
    from svcdoctor.probe.dns_query import ask

    started = time.monotonic()
    rcode, answers = await ask(f"kubernetes.default.svc.{zone}.", "A", target.ip, timeout, target.port)
    result = {"TIMEOUT": "timeout", "REFUSED": "refused"}.get(rcode, "open")
    return result, time.monotonic() - started, (rcode, answers)


async def _run(probe_plan: Plan, asked: Sequence[Question], server: str, zone: str, timeout: float,
               method: str) -> tuple[list[tuple[str, float]], list[DNSAnswer], tuple[str, list[Any]] | None]:
    from svcdoctor.probe.dns_query import ask, resolve
    from svcdoctor.probe.tcp import connect

    targets = probe_plan.targets
    tcp = [t for t in targets if t.protocol == "TCP"]
    syn = [t for t in tcp if method == "syn" and _syn_eligible(t)]
    connects = [t for t in tcp if t not in syn]
    results: dict[ProbeTarget, tuple[str, float]] = {}
    # Made only when it will be awaited: a placeholder coroutine that is replaced warns "never awaited".
    syn_task: Any
    if syn:
        from svcdoctor.probe.syn import syn_all

        syn_task = asyncio.to_thread(syn_all, [(t.ip, t.port) for t in syn], timeout)
    else:
        syn_task = asyncio.sleep(0, result=[])
    udp = [t for t in targets if t.is_dns]
    control_task = ask(f"kubernetes.default.svc.{zone}.", "A", server, timeout) if server else asyncio.sleep(0)
    gathered = await asyncio.gather(
        syn_task,
        asyncio.gather(*(connect(t.ip, t.port, timeout) for t in connects)),
        asyncio.gather(*(_dns_probe(t, zone, timeout) for t in udp)),
        asyncio.gather(*(resolve(q.name, q.type, q.config, server, timeout, q.source) for q in asked))
        if server else asyncio.sleep(0, result=[]),
        control_task,
    )
    syn_results, connect_results, udp_results, answers, control = gathered
    results.update(zip(syn, syn_results, strict=True))
    results.update(zip(connects, connect_results, strict=True))
    for target, (result, seconds, _) in zip(udp, udp_results, strict=True):
        results[target] = (result, seconds)
    ordered = [results[t] for t in targets]
    return ordered, list(answers), control if server else None


def gather(snapshot: Snapshot, namespace: str, name: str, client: Client | None, invocation: Any) -> Snapshot:
    """Probe the Service ``namespace/name`` and ask DNS for its names; return the Snapshot with the
    new ``probe_results`` and ``dns_answers`` added. Prints the budget and the place probes leave
    from on stderr before it starts."""
    timeout, limit = _check_budget(invocation)
    zone = cluster_domain(snapshot, getattr(invocation, "cluster_domain", None)).domain
    probe_plan = plan(snapshot, namespace, name, limit)
    server = _dns_server(invocation, snapshot)
    dns_ips = [server] if getattr(invocation, "dns_server", None) else dns_service_ips(snapshot)
    asked = questions(snapshot, namespace, name, client, zone, dns_ips)
    towards = probe_plan.targets[0].ip if probe_plan.targets else server
    source = probe_source(snapshot, towards)
    method = _method(probe_plan.targets)
    budget = timeout * (1 + max(len(q.config.searches) for q in asked) if asked else 1)
    lines = [f"svcdoctor: probing {len(probe_plan.targets)} address(es) of {namespace}/{name} from {source} "
             f"({'SYN to Pods, TCP connect to Service addresses' if method == 'syn' else 'TCP connect'}, "
             f"all at once, {timeout:g} s each)"]
    if probe_plan.left_out:
        lines.append(f"svcdoctor: {probe_plan.left_out} more target(s) left out by --max-probes {limit}")
    lines += [f"svcdoctor: not probed: {line}" for line in probe_plan.refused[:10]]
    if len(probe_plan.refused) > 10:
        lines.append(f"svcdoctor: {len(probe_plan.refused) - 10} more address(es) not probed")
    if server:
        lines.append(f"svcdoctor: asking {server} for {len(asked)} name(s) as the client's resolver would")
    else:
        lines.append("svcdoctor: no cluster DNS Service in the snapshot and no --dns-server: DNS not asked")
    lines.append(f"svcdoctor: done within {budget:g} s at most")
    progress: Progress = getattr(invocation, "progress", NO_PROGRESS)
    for line in lines:
        progress.note(line)
    progress.show(f"probing {len(probe_plan.targets)} address(es) of {namespace}/{name}, {budget:g} s at most")
    outcomes, answers, control = asyncio.run(_run(probe_plan, asked, server, zone, timeout, method))
    probe_results = [
        ProbeResult(ip=t.ip, port=t.port, protocol=t.protocol, result=result, source=source, target=t.kind,
                    target_object=t.object, seconds=round(seconds, 3))
        for t, (result, seconds) in zip(probe_plan.targets, outcomes, strict=True)
    ]
    if control is not None:
        rcode, data = control
        answers.append(DNSAnswer(f"kubernetes.default.svc.{zone}.", "A", rcode, tuple(data), "", server))
    return snapshot.with_evidence(dns_answers=answers, probe_results=probe_results)

