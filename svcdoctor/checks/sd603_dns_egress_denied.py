"""SD603 — The client's egress policies block cluster DNS.

What it detects:
    The client Pod (``--from``) is selected by egress policies, and no rule of them admits UDP (or
    TCP) port 53 to the Pods behind the ``kube-dns`` Service in ``kube-system`` (found through that
    Service's selector, usually ``k8s-app=kube-dns``); also when the DNS Pods' own ingress policies
    refuse the client.

Why it matters:
    A default-deny egress policy without a rule for 53/UDP and 53/TCP to the kube-dns Pods breaks
    every name lookup of the Pods it selects: the Service's name no longer resolves.

    This is the classic default-deny-egress outage — the policy author allowed the backend, but the
    client can no longer resolve the Service's name, so *every* name lookup times out. TCP 53
    matters for large answers and for resolvers that retry over TCP.

How to fix:
    Add an egress rule to kube-system Pods k8s-app=kube-dns on 53/UDP and 53/TCP.

Example:
    The scenario fixtures/scenarios/netpol-default-deny-egress-dns: shop got a default-deny-egress
    policy and an egress allowance from the frontend to the backend on 8080, but none for DNS: the
    frontend can no longer resolve backend.shop (53/UDP and 53/TCP to the kube-dns Pods are denied);
    the recorded lookup timed out (SD701 follows from SD603).

    $ cd fixtures/scenarios/netpol-default-deny-egress-dns
    $ svcdoctor check backend -n shop --from shop/frontend-ddcj28l7m-jsshd --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity, Skip, Unknown
from svcdoctor.k8s import ObjectRef
from svcdoctor.netpol.evaluator import identity_labels, pod_endpoint
from svcdoctor.netpol.interface import EGRESS, INGRESS, DirectionResult, Endpoint, Traffic
from svcdoctor.netpol.model import CompiledPeer, CompiledPolicy, CompiledRule
from svcdoctor.netpol.service import (
    DNS_NAMESPACE,
    DNS_POD_LABELS,
    DNS_SERVICE,
    client_endpoint,
    dns_pods,
    evaluator_of,
    next_commands,
    pod_port,
    policy_evidence,
)
from svcdoctor.selectors import EVERYTHING
from svcdoctor.snapshot import Snapshot

DEFAULT_DNS_PORTS: tuple[Mapping[str, Any], ...] = (
    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
)


def _dns_rule(dns_labels: Mapping[str, str]) -> dict[str, Any]:
    return {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": DNS_NAMESPACE}},
                    "podSelector": {"matchLabels": dict(dns_labels)}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def _may_admit_dns(rule: CompiledRule) -> bool:
    """Whether a rule's ports could admit 53/UDP, whatever the destination (names cannot be resolved)."""
    if rule.ports is None:
        return True
    for entry in rule.ports:
        if entry.protocol != "UDP":
            continue
        if entry.port is None or isinstance(entry.port, str):
            return True
        if entry.port <= 53 <= (entry.end_port or entry.port):
            return True
    return False


def _admits_any_pod_on_dns(rule: CompiledRule) -> bool:
    """Whether a rule admits 53/UDP to every Pod of every namespace (no peers, or an all-Pods peer)."""
    every_pod = rule.peers is None or any(
        peer.cidr is None and not peer.problem and peer.pod_selector in (None, EVERYTHING)
        and peer.namespace_selector is not None and peer.namespace_selector.is_everything
        for peer in rule.peers)
    ports_ok = rule.ports is None or any(
        entry.protocol == "UDP" and (entry.port is None or (isinstance(entry.port, int)
                                                            and entry.port <= 53 <= (entry.end_port or entry.port)))
        for entry in rule.ports)
    return every_pod and ports_ok


def _peer_may_reach_dns(peer: CompiledPeer, policy_namespace: str, snapshot: Snapshot) -> str:
    """Whether a peer admits the DNS Pods, known only by their namespace: ``yes`` | ``no`` | ``maybe``.

    Namespaces are decidable without the Pods: a ``podSelector`` alone means the policy's own
    namespace, and every namespace carries ``kubernetes.io/metadata.name``. The Pods' labels are
    not known, so a podSelector is taken to admit them when it selects ``k8s-app=kube-dns`` (the
    label kube-dns and CoreDNS Pods carry) and to be undecided otherwise; an ipBlock is undecided.
    """
    if peer.problem:
        return "no"
    if peer.cidr is not None:
        return "maybe"
    if peer.namespace_selector is None:
        namespace = "yes" if policy_namespace == DNS_NAMESPACE else "no"
    else:
        labels = snapshot.namespace_labels(DNS_NAMESPACE)
        if peer.namespace_selector.matches(labels):
            namespace = "yes"
        elif snapshot.get("Namespace", "", DNS_NAMESPACE) is not None or any(
                r.key == "kubernetes.io/metadata.name" for r in peer.namespace_selector.requirements):
            namespace = "no"  # its labels are known, or the selector names other namespaces
        else:
            namespace = "maybe"  # it may carry labels the input does not show
    if namespace == "no":
        return "no"
    pods = peer.pod_selector is None or peer.pod_selector.is_everything or peer.pod_selector.matches(DNS_POD_LABELS)
    return "yes" if namespace == "yes" and pods else "maybe"


def _rule_may_reach_dns(rule: CompiledRule, policy_namespace: str, snapshot: Snapshot) -> str:
    if not _may_admit_dns(rule):
        return "no"
    if rule.peers is None:
        return "yes"
    answers = {_peer_may_reach_dns(peer, policy_namespace, snapshot) for peer in rule.peers}
    return "yes" if "yes" in answers else "maybe" if "maybe" in answers else "no"


def _blind_finding(context: Context, endpoint: Endpoint, isolating: list[CompiledPolicy]) -> Finding:
    """DNS is denied for sure when no egress rule admits 53/UDP to anything, DNS Pods known or not."""
    names = ", ".join(p.ref.name for p in isolating)
    snippet = yaml.safe_dump([_dns_rule(DNS_POD_LABELS)], sort_keys=False).rstrip()
    target = isolating[0].ref
    return CHECK.finding(
        f"Cluster DNS is blocked for {endpoint}: its egress is isolated by {names}, and no egress rule of "
        f"{'it' if len(isolating) == 1 else 'them'} admits 53/UDP to a Pod in {DNS_NAMESPACE}, so it cannot resolve "
        f"any name (the {DNS_SERVICE} Pods are not in the input, but no rule's ports and peers could admit them).",
        evidence=[Evidence(p.ref, "spec.egress", None,
                           "; ".join(f"rule {r.index + 1}: "
                                     + (", ".join(e.describe() for e in r.ports) if r.ports else "every port")
                                     + " to " + (" or ".join(peer.describe(p.namespace) for peer in r.peers)
                                                 if r.peers else "everything")
                                     for r in p.egress) or "no egress rules") for p in isolating],
        next=[f"kubectl describe networkpolicy {p.ref.name} -n {p.namespace}" for p in isolating],
        fix=(f"Allow DNS in the client's egress: append this rule to spec.egress of NetworkPolicy "
             f"{target.namespace}/{target.name}:\n# kubectl edit networkpolicy {target.name} -n {target.namespace}\n"
             f"{snippet}"),
        subject=target,
        subject_field="spec.egress" if isolating[0].egress else "spec.podSelector",
        key="dns",
    )


def run(context: Context) -> Iterator[Finding]:
    client = context.client
    if client is None or client.kind != "pod":
        raise Skip("only a client Pod (--from) has egress policies and uses cluster DNS")
    endpoint = client_endpoint(context)
    pod = context.client_pod or {}
    dns_policy = str(k8s.spec(pod).get("dnsPolicy") or "ClusterFirst")
    host_network = bool(k8s.spec(pod).get("hostNetwork"))
    if dns_policy in ("Default", "None") or (host_network and dns_policy != "ClusterFirstWithHostNet"):
        raise Skip(f"the client does not use cluster DNS (dnsPolicy {dns_policy}"
                   f"{', hostNetwork' if host_network else ''}; SD705 covers that)")
    missing = context.snapshot.missing("networkpolicies", endpoint.namespace)
    if missing is not None:
        raise Unknown(f"could not {missing.verb} networkpolicies in {endpoint.namespace}: {missing.reason}")
    evaluator = evaluator_of(context)
    isolating = evaluator.selecting(endpoint, EGRESS)
    service, pods = dns_pods(context.snapshot)
    if not pods:
        if not isolating:
            return  # egress is open: DNS is not blocked by policy, whatever the DNS Pods are
        if any(_admits_any_pod_on_dns(rule) for policy in isolating for rule in policy.egress):
            return  # a rule admits 53/UDP to every Pod, wherever the DNS Pods are
        answers = {_rule_may_reach_dns(rule, policy.namespace, context.snapshot)
                   for policy in isolating for rule in policy.egress}
        if "yes" in answers:
            return
        if "maybe" in answers:
            raise Unknown(f"the client's egress is isolated, but the {DNS_SERVICE} Pods in {DNS_NAMESPACE} are not "
                          "in the snapshot, so svcdoctor cannot tell whether a rule's peers admit them")
        yield _blind_finding(context, endpoint, isolating)
        return
    dns_ports = list(k8s.service_ports(service)) if service is not None else list(DEFAULT_DNS_PORTS)
    failures: dict[str, list[DirectionResult]] = {}
    checked: dict[str, int] = {}
    for protocol in ("UDP", "TCP"):
        for dns_pod in pods:
            destination = pod_endpoint(dns_pod)
            for service_port in dns_ports:
                if k8s.port_protocol(service_port).upper() != protocol or service_port.get("port") != 53:
                    continue
                number = pod_port(dns_pod, service_port)
                if number is None:
                    continue
                traffic = Traffic(number, protocol)
                checked[protocol] = checked.get(protocol, 0) + 1
                for direction, subject, remote in ((EGRESS, endpoint, destination),
                                                   (INGRESS, destination, endpoint)):
                    if not evaluator.decide(direction, subject, remote, traffic):
                        failures.setdefault(protocol, []).append(
                            evaluator.explain_direction(direction, subject, remote, traffic))
                        break
    if not failures:
        return
    udp_all = len(failures.get("UDP", [])) >= checked.get("UDP", 1)
    first = (failures.get("UDP") or failures["TCP"])[0]
    protocols = " and ".join(f"53/{p}" for p in ("UDP", "TCP") if p in failures)
    side = ("its egress policies" if first.direction == EGRESS
            else f"the ingress policies of the {DNS_SERVICE} Pods in {DNS_NAMESPACE}")
    scope = "the" if udp_all or "UDP" not in failures else "some of the"
    blocked = sorted({str(r.subject if r.direction == INGRESS else r.remote)
                      for results in failures.values() for r in results})
    consequence = ("so it cannot resolve any name, including this Service's: every lookup times out"
                   if udp_all else "so lookups fail or time out intermittently (large answers and TCP retries "
                   "fail, or some DNS Pods are unreachable)")
    message = (f"Cluster DNS is blocked for {endpoint}: {side} deny {protocols} to {scope} {DNS_SERVICE} Pods "
               f"({', '.join(blocked)}), {consequence}. " + first.summary())
    selector = k8s.as_map(k8s.spec(service or {}).get("selector")) or identity_labels(k8s.labels(pods[0]))
    if first.direction == EGRESS:
        target = first.policies[0].policy if first.policies else ObjectRef("NetworkPolicy", endpoint.namespace, "")
        snippet = yaml.safe_dump([_dns_rule({str(k): str(v) for k, v in selector.items()})], sort_keys=False)
        fix = (f"Allow DNS in the client's egress: append this rule to spec.egress of NetworkPolicy "
               f"{target.namespace}/{target.name} (or of a policy of its own that selects the same Pods):\n"
               f"# kubectl edit networkpolicy {target.name} -n {target.namespace}\n{snippet.rstrip()}")
    else:
        target = first.policies[0].policy
        fix = (f"Let the client reach DNS: the {DNS_SERVICE} Pods' ingress policy {target.namespace}/{target.name} "
               f"must admit it on 53/UDP and 53/TCP." + (f"\n{first.suggestion.yaml}" if first.suggestion else ""))
    evidence = policy_evidence(first)
    if service is not None:
        evidence.append(Evidence(k8s.ref(service), "spec.selector", dict(selector), "how the DNS Pods were found"))
    yield CHECK.finding(
        message,
        severity=Severity.ERROR if udp_all else Severity.WARNING,
        evidence=evidence,
        next=[*next_commands(first)[:-1],
              f"kubectl exec -n {endpoint.namespace} {endpoint.name} -- nslookup "
              f"kubernetes.default.svc.{context.options.cluster_domain}"],
        fix=fix,
        subject=target if target.name else None,
        key="dns",
    )


CHECK = Check(
    id="SD603",
    name="dns-egress-denied-by-networkpolicy",
    step=6,
    explains=frozenset({"SD701"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("networkpolicies", "pods", "namespaces"),
    needs_client=True,
    confidence="likely",
)
