"""What the step-6 checks share: a Service's backends as the evaluator sees them, the client, DNS Pods.

NetworkPolicies judge the connection after kube-proxy's DNAT: the destination is a backend Pod's
address and its *target* port, not the ClusterIP and the Service port. So each Service port is
turned into the Pod port it reaches on each backend (a named targetPort looked up per Pod).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, Context
from svcdoctor.findings import Evidence, Finding, Severity, Skip, Unknown
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.netpol.evaluator import Evaluator, ip_endpoint, node_endpoint, pod_endpoint
from svcdoctor.netpol.interface import EGRESS, INGRESS, DirectionResult, Endpoint, Traffic
from svcdoctor.netpol.model import CompiledPolicy, CompiledRule
from svcdoctor.netpol.tiers import TIER_DEFAULT, TIER_NETWORK_POLICY, Decision, PolicyStack
from svcdoctor.selectors import from_service_selector
from svcdoctor.snapshot import Snapshot

DNS_NAMESPACE = "kube-system"
DNS_SERVICE = "kube-dns"
#: The label CoreDNS and kube-dns Pods carry when the kube-dns Service is not in the snapshot.
DNS_POD_LABELS = {"k8s-app": "kube-dns"}


@dataclass(frozen=True)
class Backend:
    """One Pod behind one Service port: the traffic a connection to that port becomes."""

    pod: Obj
    endpoint: Endpoint
    service_port: Mapping[str, Any]
    traffic: Traffic


def evaluator_of(context: Context) -> Evaluator:
    """One Evaluator per Snapshot, shared by the step-6 checks of a run.

    With no NetworkPolicy in the snapshot, the evaluation (everything allowed) stands only if none exist:
    the check says so, and its step is ``partial``.
    """
    context.note_unrecorded("NetworkPolicy")
    return context.snapshot.memo("netpol-evaluator", Evaluator)


def stack_of(context: Context) -> PolicyStack:
    """One PolicyStack per Snapshot, sharing SD601's NetworkPolicy evaluator.

    Built without side effects on the asking check's Context (the memo builds it once, for whichever
    check asks first): SD606 and SD607 say for themselves what they went without.
    """
    return context.snapshot.memo("policy-stack", lambda snapshot: PolicyStack(
        snapshot, snapshot.memo("netpol-evaluator", Evaluator)))


def one_pod(endpoint: Endpoint) -> str:
    """The Service's one backend Pod, as a message names it (a stand-in: its workload's Pod template)."""
    return str(endpoint) if endpoint.shown else f"its Pod {endpoint}"


def cilium_engaged(decision: Decision) -> bool:
    """Whether Cilium's policies take part in this direction's decision."""
    cilium = decision.cilium
    return cilium is not None and (cilium.enforced or cilium.denied_by is not None)


def decided_by_network_policy_alone(decision: Decision) -> bool:
    """The connections SD601/SD602 judge: no admin or baseline tier decided them, and Cilium takes no part."""
    return decision.tier in (TIER_NETWORK_POLICY, TIER_DEFAULT) and not cilium_engaged(decision)


def pod_port(pod: Obj, service_port: Mapping[str, Any]) -> int | None:
    """The Pod port a Service port reaches on ``pod`` (None when a named targetPort is missing)."""
    target = k8s.target_port(service_port)
    if isinstance(target, int):
        return target
    protocol = k8s.port_protocol(service_port)
    for _container, declared in k8s.container_ports(pod):
        if declared.get("name") == target and k8s.port_protocol(declared) == protocol:
            number = declared.get("containerPort")
            return number if isinstance(number, int) else None
    return None


def live_pods(pods: Sequence[Obj]) -> list[Obj]:
    """Ready Pods (what the Service sends to), else every Pod that is not finished."""
    ready = [p for p in pods if k8s.pod_is_ready(p) and not k8s.pod_is_terminating(p)]
    if ready:
        return ready
    return [p for p in pods if k8s.pod_phase(p) not in ("Succeeded", "Failed")]


def backends(context: Context) -> list[Backend]:
    """Every (backend Pod, Service port) pair of the target Service."""
    service = context.require_service()
    result = []
    for pod in live_pods(context.selected_pods):
        endpoint = pod_endpoint(pod)
        for service_port in k8s.service_ports(service):
            number = pod_port(pod, service_port)
            if number is not None:
                result.append(Backend(pod, endpoint, service_port,
                                      Traffic(number, k8s.port_protocol(service_port).upper())))
    return result


def by_service_port(items: Sequence[Backend]) -> dict[str, list[Backend]]:
    grouped: dict[str, list[Backend]] = {}
    for backend in items:
        grouped.setdefault(k8s.port_label(backend.service_port), []).append(backend)
    return grouped


def client_endpoint(context: Context) -> Endpoint:
    """The client as the evaluator sees it; :class:`Unknown` when its Pod is not in the snapshot."""
    client = context.client
    if client is None:
        raise Unknown("no client")
    if client.kind == "pod":
        return pod_endpoint(context.require_client_pod() or {})
    if client.kind == "node":
        endpoint = node_endpoint(context.snapshot, client.name)
        if not endpoint.ips:
            raise Unknown(f"node {client.name} has no InternalIP in the snapshot: policies match it by address")
        return endpoint
    return ip_endpoint(client.ip)


def dns_pods(snapshot: Snapshot) -> tuple[Obj | None, list[Obj]]:
    """The kube-dns Service and the Pods its selector picks (by ``k8s-app=kube-dns`` without it)."""
    service = snapshot.service(DNS_NAMESPACE, DNS_SERVICE)
    if service is not None and k8s.spec(service).get("selector"):
        selector = from_service_selector(k8s.as_map(k8s.spec(service).get("selector")))
    else:
        selector = from_service_selector(DNS_POD_LABELS)
    return service, live_pods(snapshot.select_pods(DNS_NAMESPACE, selector))


def policy_evidence(result: DirectionResult) -> list[Evidence]:
    """One evidence line per policy that selects the isolated Pod, with its rules' verdicts."""
    evidence = []
    field_name = "spec.ingress" if result.direction == "ingress" else "spec.egress"
    for policy in result.policies:
        summaries = [f"rule {rule.index + 1} {rule.summary}" for rule in policy.rules]
        note = " | ".join(summaries) if summaries else policy.note
        if policy.note and summaries:
            note = f"{policy.note} | {note}"
        evidence.append(Evidence(ObjectRef("NetworkPolicy", policy.policy.namespace, policy.policy.name),
                                 field_name, None, note or "selects the Pod"))
    return evidence


def fix_text(result: DirectionResult) -> str:
    """The smallest change, in words and as YAML."""
    suggestion = result.suggestion
    if suggestion is None:
        return ""
    text = f"Smallest change: {suggestion.change}.\n{suggestion.yaml}"
    if suggestion.alternative:
        text += f"\nOr: {suggestion.alternative}."
    return text


def next_commands(result: DirectionResult) -> list[str]:
    commands = []
    for policy in result.policies:
        commands.append(f"kubectl describe networkpolicy {policy.policy.name} -n {policy.policy.namespace}")
    remote = result.remote
    if remote.kind == "pod":
        commands.append(f"kubectl get pod {remote.name} -n {remote.namespace} --show-labels")
        commands.append(f"kubectl get namespace {remote.namespace} --show-labels")
    subject = result.subject
    commands.append(f"svcdoctor reach --pod {remote.namespace}/{remote.name} --pod {subject.namespace}/{subject.name} "
                    f"--port {result.traffic}" if remote.kind == "pod"
                    else f"svcdoctor reach --pod {subject.namespace}/{subject.name} --from-ip "
                         f"{remote.ips[0] if remote.ips else ''} --port {result.traffic}")
    return commands


@dataclass(frozen=True)
class PortConfusion:
    """A rule that admits the client but names the wrong port for this Service."""

    policy: ObjectRef
    direction: str
    rule_index: int
    port_index: int
    #: The Service port it is about, as a person names it (``http (80/TCP)``).
    service_port: str
    #: ``service-port`` (the rule names the Service port, the Pods listen elsewhere) or ``missing-name``.
    kind: str
    message: str
    #: Whether the client is denied in that direction on that Service port (the confusion is why).
    decisive: bool


def _admitting_rules(evaluator: Evaluator, direction: str, subject: Endpoint, remote: Endpoint,
                     backend: Backend) -> Iterator[tuple[CompiledPolicy, CompiledRule]]:
    """Rules whose peers admit ``remote`` but whose ports (they have some) miss the backend's Pod port."""
    for policy in evaluator.selecting(subject, direction):
        for rule in policy.rules(direction):
            if rule.ports is None:
                continue
            if rule.peers is not None and not any(
                    evaluator.peer_matches(peer, remote, policy.namespace) for peer in rule.peers):
                continue
            if not any(evaluator.port_matches(entry, backend.traffic, backend.endpoint) for entry in rule.ports):
                yield policy, rule


def port_confusions(context: Context, client: Endpoint, evaluator: Evaluator) -> list[PortConfusion]:
    """Rules whose peers admit the client but whose ports miss the Pod port the Service leads to."""
    found: dict[tuple[ObjectRef, str, int, int, str], PortConfusion] = {}
    selected: dict[ObjectRef, list[Endpoint]] = {}

    def declared_by(policy: CompiledPolicy, direction: str, items: list[Backend]) -> tuple[list[Endpoint], str]:
        """The Pods a port name of this rule resolves against, and how to name them."""
        if direction == EGRESS:
            return [backend.endpoint for backend in items], f"no Pod of Service {context.target}"
        if policy.ref not in selected:
            selected[policy.ref] = [pod_endpoint(p) for p in
                                    context.snapshot.select_pods(policy.namespace, policy.pod_selector)]
        return selected[policy.ref], "no Pod the policy selects"

    for label, items in by_service_port(backends(context)).items():
        service_port = items[0].service_port.get("port")
        if not isinstance(service_port, int):
            continue
        for direction in (INGRESS, EGRESS) if client.kind == "pod" else (INGRESS,):
            sides = [((item.endpoint, client) if direction == INGRESS else (client, item.endpoint), item)
                     for item in items]
            decisive = not any(evaluator.decide(direction, subject, remote, item.traffic)
                               for (subject, remote), item in sides)
            for (subject, remote), item in sides:
                for policy, rule in _admitting_rules(evaluator, direction, subject, remote, item):
                    where = f"{direction} rule {rule.index + 1} of NetworkPolicy {policy.namespace}/{policy.ref.name}"
                    for entry in rule.ports or ():
                        key = (policy.ref, direction, rule.index, entry.index, label)
                        if entry.protocol != item.traffic.protocol or key in found:
                            continue
                        if isinstance(entry.port, int):
                            if (entry.port <= service_port <= (entry.end_port or entry.port)
                                    and item.traffic.port != service_port):
                                found[key] = PortConfusion(
                                    policy.ref, direction, rule.index, entry.index, label, "service-port",
                                    f"{where} allows {entry.describe()} — the Service port — but NetworkPolicy "
                                    f"sees the connection after the Service's DNAT, at the Pod port {item.traffic} "
                                    f"(targetPort {k8s.target_port(item.service_port)})", decisive)
                        elif isinstance(entry.port, str):
                            candidates, whose = declared_by(policy, direction, items)
                            if not any(d.name == entry.port and d.protocol == entry.protocol
                                       for candidate in candidates for d in candidate.ports):
                                found[key] = PortConfusion(
                                    policy.ref, direction, rule.index, entry.index, label, "missing-name",
                                    f"{where} allows the port named {entry.port!r} ({entry.protocol}), but {whose} "
                                    "declares a container port of that name, so it allows nothing", decisive)
    return list(found.values())


HOST_NETWORK_NOTE = ("Note: the client uses the host network; policies see it as its node's IP, and how a network "
                     "plugin treats host-network traffic varies (traffic from a Pod's own node is always allowed).")


def denial_findings(check: Check, context: Context, direction: str) -> Iterator[Finding]:
    """SD601 / SD602: one finding per Service port on which ``direction`` denies the client."""
    context.require_service()
    if not context.has_selector:
        raise Skip("the Service has no selector: its endpoints are not Pods svcdoctor can judge")
    pairs = backends(context)
    if not pairs:
        raise Skip("the Service has no backend Pod to judge (steps 3–5 say why)")
    client = client_endpoint(context)
    if direction == EGRESS and client.kind != "pod":
        raise Skip("egress policies apply to Pods only; this client is not a Pod")
    if direction == EGRESS and client.host_network:
        raise Skip("the client Pod uses the host network: most network plugins do not apply egress policies to it")
    if direction == EGRESS:
        missing = context.snapshot.missing("networkpolicies", client.namespace)
        if missing is not None:
            raise Unknown(f"could not {missing.verb} networkpolicies in {client.namespace}: {missing.reason}")
    evaluator = evaluator_of(context)
    confusions = port_confusions(context, client, evaluator)
    namespace, name = context.target.namespace, context.target.name
    for label, items in by_service_port(pairs).items():
        if direction == INGRESS:
            results = [evaluator.explain_direction(INGRESS, item.endpoint, client, item.traffic) for item in items]
        else:
            results = [evaluator.explain_direction(EGRESS, client, item.endpoint, item.traffic) for item in items]
        stack = stack_of(context)
        decisions = [stack.decide(INGRESS, item.endpoint, client, item.traffic) if direction == INGRESS
                     else stack.decide(EGRESS, client, item.endpoint, item.traffic) for item in items]
        # Admin or baseline tiers, or Cilium's merged policies, decide some connections: SD606/SD607 say so.
        results = [r for r, d in zip(results, decisions, strict=True) if decided_by_network_policy_alone(d)]
        items = [i for i, d in zip(items, decisions, strict=True) if decided_by_network_policy_alone(d)]
        denied = [r for r in results if not r.allowed]
        if not denied:
            continue
        first = denied[0]
        all_denied = len(denied) == len(results)
        pods = sorted({str(item.endpoint) for item, r in zip(items, results, strict=True) if not r.allowed})
        if not all_denied:
            scope = f"{len(pods)} of its {len(results)} Pods ({', '.join(pods[:3])}{', …' if len(pods) > 3 else ''})"
        elif len(pods) == 1:
            scope = one_pod(next(item.endpoint for item, r in zip(items, results, strict=True) if not r.allowed))
        else:
            scope = "both of its Pods" if len(pods) == 2 else f"all {len(pods)} of its Pods"
        what = "ingress to" if direction == INGRESS else f"egress of {client} to"
        message = (f"NetworkPolicy denies {client} → Service {namespace}/{name} port {label} "
                   f"(which arrives at {first.traffic} on the Pods): {what} {scope} is denied. "
                   + first.summary())
        if direction == EGRESS:
            message += _cluster_ip_hint(context, first)
        if client.kind == "node" or client.host_network:
            message += " " + HOST_NETWORK_NOTE
        caused_by = "SD604" if any(c.decisive and c.direction == direction and c.service_port == label
                                   for c in confusions) else None
        yield check.finding(
            message,
            severity=Severity.ERROR if all_denied else Severity.WARNING,
            evidence=policy_evidence(first),
            next=next_commands(first),
            fix=fix_text(first) or check.fix,
            caused_by=caused_by,
            subject=_nearest_policy(first) or context.service_ref,
            subject_field=_nearest_rule_field(first),
            key=label,
        )


def _nearest_policy(result: DirectionResult) -> ObjectRef | None:
    """The policy whose rule came nearest to admitting the connection (where a fix goes)."""
    nearest = result.nearest
    if nearest is not None:
        return nearest[0].policy
    return result.policies[0].policy if result.policies else None


def _nearest_rule_field(result: DirectionResult) -> str | None:
    """``spec.ingress[1]`` of the nearest rule; ``spec.podSelector`` of a policy that has none (it only isolates)."""
    nearest = result.nearest
    if nearest is None:
        return None
    _policy, rule = nearest
    return f"spec.{result.direction}[{rule.index}]" if rule is not None else "spec.podSelector"


def _cluster_ip_hint(context: Context, result: DirectionResult) -> str:
    """An egress ipBlock that covers the ClusterIP but not the Pods is a classic mistake: say so."""
    import ipaddress

    cluster_ip = k8s.cluster_ip(context.service or {})
    try:
        address = ipaddress.ip_address(cluster_ip)
    except ValueError:
        return ""
    evaluator = evaluator_of(context)
    for policy in evaluator.selecting(result.subject, EGRESS):
        for rule in policy.egress:
            for peer in rule.peers or ():
                if peer.cidr is not None and address.version == peer.cidr.version and address in peer.cidr:
                    return (f" NetworkPolicy {policy.namespace}/{policy.ref.name} allows {peer.cidr}, which holds the "
                            f"ClusterIP {cluster_ip}; but policies see the connection after the Service's DNAT, so "
                            "the rule must allow the Pods' addresses (better: select them by label).")
    return ""
