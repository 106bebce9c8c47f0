"""SD801 — kube-proxy is not running / not ready on the node(s).

What it detects:
    For every recorded Node, whether a kube-proxy Pod (kube-system, ``k8s-app=kube-proxy`` or owned
    by the ``kube-proxy`` DaemonSet) runs there and is ready; and whether the DaemonSet exists at
    all. When kube-proxy is absent because a replacement does its job (Cilium's kube-proxy
    replacement, kube-router's service proxy, Antrea proxyAll) it says so as info instead of raising
    a false alarm.

    With Cilium's kube-proxy replacement it checks Cilium's agent instead, as it does kube-proxy:
    the agent Pod (kube-system, ``k8s-app=cilium`` or owned by the ``cilium`` DaemonSet) on the
    client's node and on the nodes of the Service's ready endpoints (every Node without a client
    or endpoints) must run and be ready. A snapshot without agent Pods leaves step 8 ``partial``.

Why it matters:
    kube-proxy writes the rules that send ClusterIP traffic to Pods; where it does not run they go
    stale.

    kube-proxy writes the rules that turn a ClusterIP into Pod addresses; on a node where it does
    not run, those rules go stale or never appear, and every Service fails for clients on that node
    (SD802/SD803 there follow from this).

How to fix:
    Get kube-proxy's Pod running on the node: read its events and logs (image, config, permissions).

    With Cilium: get the agent Pod on the node running and ready (``cilium-dbg status`` in it says
    what it waits for).

Example:
    The scenario fixtures/scenarios/kube-proxy-replaced-by-cilium: No kube-proxy DaemonSet, because
    Cilium's kube-proxy replacement is on; a healthy Service reports ok with an info note.

    $ cd fixtures/scenarios/kube-proxy-replaced-by-cilium
    $ svcdoctor check cart -n shop --snapshot snapshot.yaml

    The scenario fixtures/scenarios/cilium-agent-crashloop-on-client-node: the Cilium agent on the
    client's node crash-loops.

    $ cd fixtures/scenarios/cilium-agent-crashloop-on-client-node
    $ svcdoctor check cart -n shop --from shop/frontend-ddcj28l7m-jsshd --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.dataplane.checking import (
    client_node,
    detect_replacement,
    kube_proxy_daemon_set,
    kube_proxy_pods,
    pod_problem,
    require_kube_proxy_path,
)
from svcdoctor.findings import Evidence, Finding, NotChecked, Unknown
from svcdoctor.k8s import Obj, ObjectRef


def run(context: Context) -> Iterator[Finding]:
    require_kube_proxy_path(context)
    snapshot = context.snapshot
    missing = snapshot.missing("pods", "kube-system") or snapshot.missing("daemonsets", "kube-system")
    if missing:
        raise Unknown(f"could not read kube-system: {missing.reason}")
    replacement = detect_replacement(snapshot)
    pods = kube_proxy_pods(snapshot)
    daemon_set = kube_proxy_daemon_set(snapshot)
    if not pods and daemon_set is None:
        if replacement:
            yield CHECK.finding(
                f"kube-proxy is not installed; {replacement} handles Services instead, so step 8 is about its "
                "data plane, not kube-proxy's rules.",
                severity="info", subject=context.service_ref, key="replacement",
                next=["kubectl -n kube-system get daemonsets", "cilium status   # when it is Cilium"],
            )
            if replacement.startswith("Cilium"):
                yield from _cilium_agents(context)
            return
        if not any(k8s.namespace(daemon_set) == "kube-system" for daemon_set in snapshot.daemon_sets):
            # Without kube-system's DaemonSets, "no kube-proxy" may only mean "not recorded"
            # (e.g. a snapshot of the CoreDNS Pods alone): claiming it missing would be a false alarm.
            raise NotChecked("no kube-system DaemonSets in the snapshot (none exist, or they were not recorded)",
                             "record them: kubectl get pods,daemonsets -n kube-system -o yaml")
        yield CHECK.finding(
            "There is no kube-proxy DaemonSet and no kube-proxy Pod in kube-system, and no kube-proxy replacement "
            "(Cilium, kube-router, Antrea) was found: nothing turns ClusterIPs into Pod addresses.",
            evidence=[Evidence(ObjectRef("DaemonSet", "kube-system", "kube-proxy"), None, None, "not found")],
            next=["kubectl -n kube-system get daemonsets,pods -o wide"],
            subject=context.service_ref, key="missing",
        )
        return
    by_node = _by_node(pods)
    # The DaemonSet tolerates every taint, so every Node should run one.
    nodes = [k8s.name(node) for node in snapshot.nodes]
    own = client_node(context)
    broken = _broken(nodes, by_node, "kube-proxy")
    if not nodes:
        # Without the Node objects only the nodes its Pods run on can be judged: a node with none is unseen.
        context.note_unrecorded("Node")
        for node, node_pods in by_node.items():
            problems = [(pod, pod_problem(pod)) for pod in node_pods]
            if all(problem for _, problem in problems):
                broken.append((node or "?", "; ".join(f"{k8s.name(pod)}: {problem}" for pod, problem in problems),
                               [Evidence(k8s.ref(pod), "status", _status_summary(pod), problem)
                                for pod, problem in problems]))
    considered = nodes or list(by_node)
    for node, reason, evidence in broken:
        impact, severity = _impact(node, own, len(broken) == len(considered))
        yield CHECK.finding(
            f"kube-proxy is not working on node {node} ({reason}): Service rules there are stale or missing, so "
            f"clients on {node} (and NodePort traffic to it) cannot rely on Services.",
            evidence=evidence,
            next=["kubectl get pods -n kube-system -l k8s-app=kube-proxy -o wide "
                  f"--field-selector spec.nodeName={node}",
                  "kubectl -n kube-system describe daemonset kube-proxy",
                  "kubectl logs -n kube-system -l k8s-app=kube-proxy --tail=50"],
            subject=context.service_ref, node=node, key=node, impact=impact, severity=severity,
        )


def _impact(node: str, own: str, all_broken: bool) -> tuple[str, str]:
    """(impact, severity) of a broken node: the client's own node breaks it; without a client, every node."""
    breaks_it = node == own if own else all_broken
    impact = "unreachable" if breaks_it else "degraded"
    return impact, "error" if impact == "unreachable" or not own else "warning"


def _cilium_agents(context: Context) -> Iterator[Finding]:
    """With Cilium's kube-proxy replacement its agent on each node programs the Service map: the agent
    Pods of the nodes that matter — the client's, and those of the Service's ready endpoints."""
    snapshot = context.snapshot
    agents = [pod for pod in snapshot.pods_in("kube-system") if is_cilium_agent(pod)]
    if not agents:
        context.note_unverified("no Cilium agent Pods in the snapshot (kube-system, k8s-app=cilium): whether "
                                "the agent runs on the nodes was not checked",
                                "record them: kubectl get pods -n kube-system -l k8s-app=cilium -o yaml")
        return
    own = client_node(context)
    wanted = {own} if own else set()
    wanted |= {endpoint.node for endpoint in context.service_endpoints if endpoint.ready and endpoint.node}
    nodes = sorted(wanted) or sorted(k8s.name(node) for node in snapshot.nodes)
    broken = _broken(nodes, _by_node(agents), "Cilium agent")
    for node, reason, evidence in broken:
        roles = [role for role, here in (("the client's node", node == own),
                                         ("a node of the Service's endpoints", node in wanted - {own})) if here]
        impact, severity = _impact(node, own, len(broken) == len(nodes))
        yield CHECK.finding(
            f"Cilium's agent is not working on node {node}{' (' + ', '.join(roles) + ')' if roles else ''}: "
            f"{reason}. With kube-proxy replaced, the agent programs the eBPF Service map on its node; there it "
            "goes stale (new endpoints, new Services and removed backends are not applied) or, after a "
            "restart of the node, is never loaded.",
            evidence=evidence, node=node, key=f"cilium/{node}", impact=impact, severity=severity,
            subject=context.service_ref,
            title="Cilium's agent (which replaces kube-proxy) is not running / not ready on the node",
            next=[f"kubectl -n kube-system get pods -l k8s-app=cilium -o wide --field-selector spec.nodeName={node}",
                  "kubectl -n kube-system logs -l k8s-app=cilium --tail=50",
                  "kubectl -n kube-system exec ds/cilium -- cilium-dbg status --verbose"],
            fix="Get the Cilium agent Pod on the node running and ready: read its events and logs (cilium-dbg "
                "status on the node shows what it is waiting for).",
        )


def is_cilium_agent(pod: Obj) -> bool:
    """A Cilium agent Pod: the chart's ``k8s-app: cilium`` label, or owned by the ``cilium`` DaemonSet."""
    if k8s.labels(pod).get("k8s-app") == "cilium":
        return True
    return any(isinstance(owner, Mapping) and owner.get("kind") == "DaemonSet" and owner.get("name") == "cilium"
               for owner in k8s.as_list(k8s.meta(pod).get("ownerReferences")))


def _by_node(pods: list[Obj]) -> dict[str, list[Obj]]:
    by_node: dict[str, list[Obj]] = {}
    for pod in pods:
        by_node.setdefault(str(k8s.spec(pod).get("nodeName") or ""), []).append(pod)
    return by_node


def _broken(nodes: list[str], by_node: dict[str, list[Obj]], what: str) -> list[tuple[str, str, list[Evidence]]]:
    """(node, why, evidence) for each node where no Pod of ``what`` runs, or none of them serves."""
    broken: list[tuple[str, str, list[Evidence]]] = []
    for node in nodes:
        node_pods = by_node.get(node, [])
        if not node_pods:
            broken.append((node, f"no {what} Pod runs on it",
                           [Evidence(ObjectRef("Node", "", node), None, None, f"no {what} Pod scheduled here")]))
            continue
        problems = [(pod, pod_problem(pod)) for pod in node_pods]
        if any(not problem for _, problem in problems):
            continue
        broken.append((node, "; ".join(f"{k8s.name(pod)}: {problem}" for pod, problem in problems),
                       [Evidence(k8s.ref(pod), "status", _status_summary(pod), problem) for pod, problem in problems]))
    return broken


def _status_summary(pod: Obj) -> dict[str, object]:
    statuses = k8s.container_statuses(pod)
    return {"phase": k8s.pod_phase(pod), "ready": k8s.pod_is_ready(pod),
            "restarts": sum(int(status.get("restartCount") or 0) for status in statuses)}


CHECK = Check(
    id="SD801",
    name="kube-proxy-not-running",
    step=8,
    explains=frozenset({"SD802", "SD803", "SD903"}),
    explains_on_same_node_only=True,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
    runtime=True,
)
