"""SD801 — kube-proxy is not running / not ready on the node(s).

What it detects:
    For every recorded Node, whether a kube-proxy Pod (kube-system, ``k8s-app=kube-proxy`` or owned
    by the ``kube-proxy`` DaemonSet) runs there and is ready; and whether the DaemonSet exists at
    all. When kube-proxy is absent because a replacement does its job (Cilium's kube-proxy
    replacement, kube-router's service proxy, Antrea proxyAll) it says so as info instead of raising
    a false alarm.

Why it matters:
    kube-proxy writes the rules that send ClusterIP traffic to Pods; where it does not run they go
    stale.

    kube-proxy writes the rules that turn a ClusterIP into Pod addresses; on a node where it does
    not run, those rules go stale or never appear, and every Service fails for clients on that node
    (SD802/SD803 there follow from this).

How to fix:
    Get kube-proxy's Pod running on the node: read its events and logs (image, config, permissions).

Example:
    The scenario fixtures/scenarios/kube-proxy-replaced-by-cilium: No kube-proxy DaemonSet, because
    Cilium's kube-proxy replacement is on; a healthy Service reports ok with an info note.

    $ cd fixtures/scenarios/kube-proxy-replaced-by-cilium
    $ svcdoctor check cart -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

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
    by_node: dict[str, list[Obj]] = {}
    for pod in pods:
        by_node.setdefault(str(k8s.spec(pod).get("nodeName") or ""), []).append(pod)
    # The DaemonSet tolerates every taint, so every Node should run one.
    nodes = [k8s.name(node) for node in snapshot.nodes]
    own = client_node(context)
    broken: list[tuple[str, str, list[Evidence]]] = []
    for node in nodes:
        node_pods = by_node.get(node, [])
        if not node_pods:
            broken.append((node, "no kube-proxy Pod runs on it",
                           [Evidence(ObjectRef("Node", "", node), None, None, "no kube-proxy Pod scheduled here")]))
            continue
        problems = [(pod, pod_problem(pod)) for pod in node_pods]
        if any(not problem for _, problem in problems):
            continue
        broken.append((node, "; ".join(f"{k8s.name(pod)}: {problem}" for pod, problem in problems),
                       [Evidence(k8s.ref(pod), "status", _status_summary(pod), problem) for pod, problem in problems]))
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
        if own:
            impact = "unreachable" if node == own else "degraded"
        else:
            impact = "unreachable" if len(broken) == len(considered) else "degraded"
        yield CHECK.finding(
            f"kube-proxy is not working on node {node} ({reason}): Service rules there are stale or missing, so "
            f"clients on {node} (and NodePort traffic to it) cannot rely on Services.",
            evidence=evidence,
            next=["kubectl get pods -n kube-system -l k8s-app=kube-proxy -o wide "
                  f"--field-selector spec.nodeName={node}",
                  "kubectl -n kube-system describe daemonset kube-proxy",
                  "kubectl logs -n kube-system -l k8s-app=kube-proxy --tail=50"],
            subject=context.service_ref, node=node, key=node, impact=impact,
            severity="error" if impact == "unreachable" or not own else "warning",
        )


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
