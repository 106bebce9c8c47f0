"""SD806 — Cilium's eBPF service map does not match the Service's ready endpoints.

What it detects:
    With Cilium's kube-proxy replacement, a node's service map (what `cilium-dbg service list`
    prints there, carried by a NodeDump as `ciliumServiceList`) is traced for each way into the
    Service: ClusterIP:port, externalIPs, LoadBalancer addresses and the NodePort. It reports a
    frontend that is missing, a frontend whose backends are stale (addresses that are not ready
    endpoints), ready endpoints that are missing from it, and ready endpoints that Cilium keeps in
    the `terminating`, `quarantined` or `maintenance` state (never chosen).

Why it matters:
    Cilium, not kube-proxy, translates the Service address on such a node: a missing frontend means
    connections to the Service address from that node go nowhere, stale backends send a share of
    connections to Pods that are gone, and backends Cilium holds back shrink the Service to fewer
    Pods than Kubernetes shows. The agent syncs from the API server; a map that disagrees means the
    agent is stuck, restarting, or lost its connection to the API server.

How to fix:
    Look at the Cilium agent on that node (`cilium-dbg status`, its logs); restart the agent Pod
    if it is stuck. A backend left quarantined by a failed health check comes back by itself once
    the Pod answers, or with `cilium-dbg service update --backends IP:PORT --states active`.

Example:
    The scenario fixtures/scenarios/cilium-service-map-stale-backend: node-a's agent still sends
    the cart Service to a Pod that was replaced, and never learnt of its successor.

    $ cd fixtures/scenarios/cilium-service-map-stale-backend
    $ svcdoctor check cart -n shop --from shop/web-fjb8vg5w6-7ql9d --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.dataplane import cilium
from svcdoctor.dataplane.analysis import _service_addresses, node_addresses, usable_endpoints
from svcdoctor.dataplane.checking import client_node, detect_replacement, impact_for, pod_problem
from svcdoctor.endpoints import Endpoint, service_endpoints
from svcdoctor.findings import Evidence, Finding, NotChecked, Skip, Unknown
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.snapshot import NodeDump

NO_LIST_HOW = ("run `kubectl exec -n kube-system CILIUM_POD -c cilium-agent -- cilium-dbg service list > svc.txt` "
               "with the cilium Pod of the client's node (`kubectl get pods -n kube-system -l k8s-app=cilium -o "
               "wide`) and pass `--cilium-service-list NODE=svc.txt` (docs/dataplane.md)")
AGENT_NAMESPACE = "kube-system"
AGENT_LABEL = ("k8s-app", "cilium")
#: Backend states in which Cilium does not choose a backend for new connections.
HELD_BACK = ("terminating", "terminating-not-serving", "quarantined", "maintenance")


@dataclass(frozen=True)
class Problem:
    """One way into the Service that the node's map gets wrong."""

    label: str
    what: str
    lines: tuple[str, ...]
    #: The map sends no connection of this path anywhere (the client fails, not just some tries).
    blocking: bool


def _lists(context: Context) -> list[tuple[NodeDump, cilium.ServiceList]]:
    dumps = [dump for dump in context.snapshot.node_dumps if dump.cilium_service_list.strip()]
    if not dumps:
        replacement = detect_replacement(context.snapshot)
        if replacement.startswith("Cilium"):
            raise NotChecked("no Cilium service list", NO_LIST_HOW)
        raise Skip("no Cilium kube-proxy replacement in the snapshot: kube-proxy's rules are step 8's evidence")
    node = client_node(context)
    own = [dump for dump in dumps if dump.node == node]
    parsed: dict[str, cilium.ServiceList] = context.snapshot.memo("cilium-service-lists", lambda _: {})
    result = []
    for dump in own or dumps:
        if dump.node not in parsed:
            parsed[dump.node] = cilium.parse(dump.cilium_service_list)
        result.append((dump, parsed[dump.node]))
    return result


def problems_for(service: Obj, endpoints: Sequence[Endpoint], service_list: cilium.ServiceList,
                 node_addresses: Sequence[str] = ()) -> list[Problem]:
    """Every way into ``service`` that ``service_list`` gets wrong against its ``endpoints`` (pure);
    ``node_addresses``: the node's own addresses, where a NodePort must have a frontend unless a
    ``0.0.0.0`` / ``::`` one stands for them all."""
    spec = k8s.spec(service)
    service_type = k8s.service_type(service)
    local = {"clusterIP": spec.get("internalTrafficPolicy") == "Local",
             "nodePort": spec.get("externalTrafficPolicy") == "Local",
             "loadBalancer": spec.get("externalTrafficPolicy") == "Local",
             "externalIP": spec.get("externalTrafficPolicy") == "Local"}
    # An empty map says nothing of the families the agent serves: every address is expected then.
    ready_endpoints = [endpoint for endpoint in endpoints if endpoint.ready]
    families = service_list.families or frozenset({4, 6})
    addresses = _service_addresses(service)
    problems: list[Problem] = []
    for port in k8s.service_ports(service):
        name = str(port.get("name") or "")
        protocol = str(port.get("protocol") or "TCP").upper()
        try:
            number, node_port = int(port.get("port") or 0), int(port.get("nodePort") or 0)
        except (TypeError, ValueError):
            continue
        targets = [(kind, ip, number) for kind in ("clusterIP", "externalIP", "loadBalancer") for ip in addresses[kind]]
        if node_port and service_type in ("NodePort", "LoadBalancer"):
            targets.append(("nodePort", "0.0.0.0", node_port))
        for kind, ip, destination in targets:
            family = 6 if ":" in ip else 4
            if family not in families:
                continue
            if kind == "nodePort":
                frontends = [frontend for frontend in service_list.by_port.get(destination, ())
                             if frontend.type == "NodePort"]
                label = f"NodePort {destination}/{protocol}"
                if frontends and not any(frontend.address.ip in ("0.0.0.0", "::") for frontend in frontends):
                    served = {frontend.address.ip for frontend in frontends}
                    unserved = [address for address in node_addresses if address not in served]
                    if unserved:
                        problems.append(Problem(label, f"has no frontend on the node address(es) "
                                                       f"{', '.join(unserved)}", (), False))
            else:
                frontends = service_list.at(ip, destination, protocol)
                label = f"{kind} {cilium.Address(ip, destination, protocol)}"
            expected = usable_endpoints(endpoints, name, protocol, family)
            ready = usable_endpoints(ready_endpoints, name, protocol, family)
            problems.extend(_compare(label, frontends, expected, ready, local[kind], service_list.partial))
    return problems


def _compare(label: str, frontends: list[cilium.Frontend], expected: frozenset[tuple[str, int]],
             ready: frozenset[tuple[str, int]], local: bool, partial: bool) -> list[Problem]:
    """``expected``: where kube-proxy would send the path (ready endpoints, else serving terminating
    ones); ``ready``: the ready ones alone, which Cilium must not hold back."""
    if not frontends:
        if partial:
            raise Unknown(f"{label} is not in the Cilium service list, but the list was cut ([...]): record it whole")
        return [Problem(label, "has no frontend in Cilium's service map", (), True)]
    if any(frontend.type == "LocalRedirect" for frontend in frontends):
        return []
    lines = tuple(line for frontend in frontends for line in frontend.text)
    active = {(backend.address.ip, backend.address.port) for frontend in frontends for backend in frontend.backends
              if backend.state == "active"}
    held = {(backend.address.ip, backend.address.port): backend.state for frontend in frontends
            for backend in frontend.backends if backend.state in HELD_BACK}
    problems = []
    stale = active - expected
    if stale:
        problems.append(Problem(label, f"sends connections to {_joined(stale)}, which "
                                       f"{'is not a ready endpoint' if len(stale) == 1 else 'are not ready endpoints'}",
                                lines, not (active & expected)))
    held_ready = {address: state for address, state in held.items() if address in ready}
    if held_ready:
        problems.append(Problem(label, "holds back ready endpoints: " + ", ".join(
            f"{ip}:{port} ({state})" for (ip, port), state in sorted(held_ready.items())), lines,
            not (active & expected)))
    missing = expected - active - set(held)
    if missing and not local:
        blocking = not active
        problems.append(Problem(label, f"lacks the ready endpoint{'s' if len(missing) > 1 else ''} {_joined(missing)}"
                                + (" (it has no backend at all)" if blocking else ""), lines, blocking))
    return problems


def _joined(addresses: set[tuple[str, int]] | frozenset[tuple[str, int]]) -> str:
    return ", ".join(str(cilium.Address(ip, port)) for ip, port in sorted(addresses))


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName":
        raise Skip("an ExternalName Service has no frontend in Cilium's service map")
    if k8s.is_headless(service):
        raise Skip("a headless Service has no ClusterIP and so no frontend in Cilium's service map")
    lists = _lists(context)
    agents = {str(k8s.spec(pod).get("nodeName") or ""): pod
              for pod in context.snapshot.pods_with_label(AGENT_NAMESPACE, *AGENT_LABEL)}
    if not agents:
        # The map is the agent's; without its Pods the report cannot say whether the agent that
        # printed it still runs there (a stuck or restarting agent is what leaves a map stale).
        context.caveats.append(("no Cilium agent Pods in the snapshot",
                                "record the kube-system Pods labelled k8s-app=cilium (svcdoctor record reads them)"))
    endpoints = service_endpoints(context.snapshot, context.target.namespace, context.target.name)
    if not context.snapshot.holds("Node"):
        context.caveats.append(("no Node objects in the snapshot", "record the Nodes: NodePort frontends on each "
                                "node's own addresses, and whether the node of a list still exists, are not checked"))
    found = {dump.node: problems_for(service, endpoints, service_list,
                                     node_addresses(context.snapshot.node(dump.node)))
             for dump, service_list in lists}
    broken = [node for node, problems in found.items() if any(problem.blocking for problem in problems)]
    all_nodes = list(found)
    for dump, service_list in lists:
        problems = found[dump.node]
        if not problems:
            continue
        node = dump.node
        blocking = [problem for problem in problems if problem.blocking]
        lines = tuple(dict.fromkeys(line for problem in problems for line in problem.lines))
        evidence = [Evidence(context.service_ref, "spec.clusterIP", str(k8s.spec(service).get("clusterIP") or ""),
                             "; ".join(f"{problem.label} {problem.what}" for problem in problems))]
        if lines:
            evidence.append(Evidence(ObjectRef("NodeDump", "", node), "ciliumServiceList", list(lines[:12]),
                                     "the Service's rows in the node's Cilium service list"))
        if service_list.problems:
            evidence.append(Evidence(ObjectRef("NodeDump", "", node), "ciliumServiceList",
                                     list(service_list.problems[:5]),
                                     f"{len(service_list.problems)} line(s) of the list could not be read"))
        message = (f"On node {node}, Cilium's service map (kube-proxy replacement) disagrees with the Service's "
                   f"ready endpoints: " + "; ".join(f"{problem.label} {problem.what}" for problem in problems) + ".")
        agent = agents.get(node)
        trouble = pod_problem(agent) if agent is not None else ""
        if agent is not None and trouble:
            message += f" The Cilium agent there, {k8s.name(agent)}, is {trouble}."
            evidence.append(Evidence(k8s.ref(agent), "status", trouble, "the Cilium agent on that node"))
        yield CHECK.finding(
            message, severity="error" if blocking else "warning", evidence=evidence,
            next=[f"kubectl exec -n kube-system ds/cilium -c cilium-agent -- cilium-dbg service list   "
                  f"# on node {node}: use that node's cilium Pod",
                  f"kubectl get endpointslices -n {context.target.namespace} "
                  f"-l kubernetes.io/service-name={context.target.name} -o wide",
                  f"kubectl get pods -n kube-system -l k8s-app=cilium -o wide --field-selector spec.nodeName={node}"],
            subject=context.service_ref, node=node, key=node,
            impact=impact_for(context, broken, all_nodes, node) if blocking else "degraded",
        )


CHECK = Check(
    id="SD806",
    name="cilium-service-map",
    step=8,
    explains=frozenset({"SD903"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
    runtime=True,
)
