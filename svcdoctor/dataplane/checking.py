"""What step 8's checks share: which node dumps apply, the traced paths of the target Service,
kube-proxy's Pods and its known replacements. Pure functions of the check Context."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

from svcdoctor import k8s
from svcdoctor.checks.interface import Context
from svcdoctor.dataplane.analysis import PathResult, node_addresses, service_paths
from svcdoctor.dataplane.node import NodeDataplane, load
from svcdoctor.endpoints import service_endpoints
from svcdoctor.findings import Evidence, Finding, NotChecked, Severity, Skip, StepDoesNotApply, Unknown
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.snapshot import NodeDump, Snapshot

NO_DUMP_HOW = ("run `svcdoctor collect node > node.yaml` on a node (as root, or in a privileged host-network "
               "Pod: `kubectl debug node/NAME -it --profile=sysadmin --image=…`, see docs/dataplane.md) and pass "
               "`--node-dump node.yaml`")

KUBE_PROXY_LABELS = (("k8s-app", "kube-proxy"), ("component", "kube-proxy"), ("app", "kube-proxy"))


@dataclass(frozen=True)
class NodePaths:
    """One node's parsed data plane and the target Service's paths through it."""

    dump: NodeDump
    dataplane: NodeDataplane
    paths: tuple[PathResult, ...]
    #: The node's addresses used for NodePorts ([] when the Node object is not recorded).
    addresses: tuple[str, ...]


def client_node(context: Context) -> str:
    """The node the client runs on ("" when there is no client or it is an outside address)."""
    if context.client is None:
        return ""
    if context.client.kind == "node":
        return context.client.name
    pod = context.client_pod
    return str(k8s.spec(pod).get("nodeName") or "") if pod else ""


def relevant_dumps(context: Context) -> list[NodeDump]:
    """The dumps step 8 looks at: the client's node only when it was dumped, else every dump.

    Raises :class:`Skip` when the snapshot holds no dump at all (never a silent pass).
    """
    dumps = list(context.snapshot.node_dumps)
    if not dumps:
        raise NotChecked("no node dump", NO_DUMP_HOW)
    strangers = unknown_node_dumps(context.snapshot)
    dumps = [dump for dump in dumps if dump not in strangers]
    if not dumps:
        names = ", ".join(sorted({dump.node for dump in strangers}))
        raise NotChecked(f"no dump of a node this snapshot knows (the dump of {names} matches no Node of the "
                         "snapshot, see SD003)",
                         "dump a node of this cluster, named as `kubectl get nodes` shows it: "
                         "`svcdoctor collect node --node-name NODE …`, and pass `--node-dump node.yaml`")
    node = client_node(context)
    if node:
        own = [dump for dump in dumps if dump.node == node]
        if own:
            return own
    return dumps


def require_kube_proxy_path(context: Context) -> None:
    """Raise :class:`StepDoesNotApply` when kube-proxy plays no part in the target Service's path."""
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName":
        raise StepDoesNotApply("kube-proxy plays no part in this Service's path: an ExternalName Service is a DNS "
                               "alias (CNAME), kube-proxy programs no rules for it")
    if k8s.is_headless(service):
        raise StepDoesNotApply("kube-proxy plays no part in this Service's path: a headless Service has no "
                               "ClusterIP, its name resolves straight to the Pods' addresses")


def unknown_node_dumps(snapshot: Snapshot) -> list[NodeDump]:
    """The dumps of nodes the snapshot holds no Node of: they may come from another cluster, or be named
    after a host name that is not the Node's name, so no rule in them speaks for this cluster.
    [] when the snapshot records no Node at all (then no dump can be told apart)."""
    known = {k8s.name(node) for node in snapshot.nodes}
    return [dump for dump in snapshot.node_dumps if known and dump.node not in known]


def node_paths(context: Context) -> list[NodePaths]:
    """Every relevant node's traced paths for the target Service (Skip without a dump)."""
    require_kube_proxy_path(context)
    dumps = relevant_dumps(context)
    replacement = detect_replacement(context.snapshot)
    traced: dict[tuple[NodeDump, str, str], NodePaths] = context.snapshot.memo("dataplane-paths", lambda _: {})
    results = []
    for dump in dumps:
        key = (dump, context.target.namespace, context.target.name)
        if key not in traced:
            traced[key] = _paths_for(context.snapshot, dump, context.target.namespace, context.target.name)
        results.append(traced[key])
    if replacement and not any(result.dataplane.has_kube_proxy_rules for result in results):
        raise Skip(f"kube-proxy is replaced by {replacement}: Service traffic is not handled by kube-proxy's rules")
    return results


def _paths_for(snapshot: Snapshot, dump: NodeDump, namespace: str, name: str) -> NodePaths:
    service = snapshot.service(namespace, name) or {}
    dataplane = load(dump)
    addresses = tuple(node_addresses(snapshot.node(dump.node)))
    paths = service_paths(dataplane, service, service_endpoints(snapshot, namespace, name), addresses)
    return NodePaths(dump, dataplane, tuple(paths), addresses)


def decided(result: NodePaths, path: PathResult) -> bool:
    """Whether a check may conclude anything from this path: the node's dump holds kube-proxy's
    rules, and every line the traced packet met was read and evaluated."""
    return result.dataplane.has_kube_proxy_rules and path.decided


def undecided_reasons(results: Sequence[NodePaths], kinds: Collection[str] = ()) -> list[str]:
    """Why some paths (of ``kinds``, or all) cannot be concluded from the dumps, per node, quoting the
    lines that could not be read or evaluated ([] when every path can)."""
    reasons = []
    for result in results:
        node = result.dump.node
        if not result.dataplane.has_kube_proxy_rules:
            # Whatever the Service's paths, nothing about them can be read from this dump.
            reasons.append(f"the dump of node {node} holds no kube-proxy rules ({result.dataplane.rule_count} rule(s) "
                           "read: no KUBE-SERVICES or KUBE-NODEPORTS rule, no kube-proxy nftables table, no IPVS "
                           "virtual server): kube-proxy does not run there, or the dump is not what iptables-save, "
                           "nft list ruleset or ipvsadm -Ln print")
            continue
        paths = [path for path in result.paths if not kinds or path.kind in kinds]
        labels: list[str] = []
        lines: list[str] = []
        for path in paths:
            if path.trace.undecided:
                labels.append(path.label)
                lines.extend(line for line in path.trace.undecided if line not in lines)
        if labels:
            shown = "; ".join(f"«{line[:200]}»" for line in lines[:3])
            more = f" (and {len(lines) - 3} more)" if len(lines) > 3 else ""
            reasons.append(f"on node {node}, {', '.join(labels[:3])}{' …' if len(labels) > 3 else ''}: the traced "
                           f"packet met {len(lines)} line(s) of the dump that could not be read or evaluated and "
                           f"could change where it ends: {shown}{more}")
    return reasons


def conclude(findings: Sequence[Finding], reasons: Sequence[str]) -> Iterator[Finding]:
    """The check's findings; when it found nothing wrong and some path could not be concluded, the
    check is unknown (never a pass on what it could not read)."""
    if reasons and not any(finding.severity is not Severity.INFO and finding.impact in ("unreachable", "degraded")
                           for finding in findings):
        raise Unknown("step 8 could not conclude from the node dump: " + " | ".join(reasons))
    yield from findings


def impact_for(context: Context, broken_nodes: Sequence[str], all_nodes: Sequence[str], node: str) -> str:
    """``unreachable`` when the client's own node (or, without one, every node) is broken."""
    own = client_node(context)
    if own:
        return "unreachable" if node == own else "degraded"
    return "unreachable" if set(all_nodes) <= set(broken_nodes) else "degraded"


# -- kube-proxy's Pods and replacements -------------------------------------------------------


def is_kube_proxy_pod(pod: Obj) -> bool:
    labels = k8s.labels(pod)
    if any(labels.get(key) == value for key, value in KUBE_PROXY_LABELS):
        return True
    owner = [reference for reference in k8s.as_list(k8s.meta(pod).get("ownerReferences"))
             if isinstance(reference, Mapping) and reference.get("kind") == "DaemonSet"]
    return any(str(reference.get("name")) == "kube-proxy" for reference in owner)


def kube_proxy_pods(snapshot: Snapshot) -> list[Obj]:
    return [pod for pod in snapshot.pods_in("kube-system") if is_kube_proxy_pod(pod)]


def kube_proxy_daemon_set(snapshot: Snapshot) -> Obj | None:
    for daemon_set in snapshot.daemon_sets:
        if k8s.namespace(daemon_set) == "kube-system" and (k8s.name(daemon_set) == "kube-proxy" or any(
                k8s.labels(daemon_set).get(key) == value for key, value in KUBE_PROXY_LABELS)):
            return daemon_set
    return None


def detect_replacement(snapshot: Snapshot) -> str:
    """A kube-proxy replacement the snapshot shows (Cilium, kube-router, Antrea …), or ""."""
    for config_map in snapshot.config_maps:
        data = k8s.as_map(config_map.get("data"))
        if k8s.name(config_map) == "cilium-config":
            setting = str(data.get("kube-proxy-replacement") or "").lower()
            if setting in ("true", "strict", "partial"):
                return f"Cilium (kube-proxy-replacement: {setting})"
        if k8s.name(config_map) == "antrea-config" and "proxyAll: true" in str(data.get("antrea-agent.conf") or ""):
            return "Antrea (proxyAll)"
    for daemon_set in snapshot.daemon_sets:
        for container in k8s.as_list(k8s.as_map(k8s.as_map(k8s.spec(daemon_set).get("template")).get("spec"))
                                     .get("containers")):
            if not isinstance(container, Mapping):
                continue
            arguments = " ".join(str(item) for item in k8s.as_list(container.get("args"))
                                 + k8s.as_list(container.get("command")))
            if "--kube-proxy-replacement=true" in arguments or "--kube-proxy-replacement=strict" in arguments:
                return "Cilium (kube-proxy-replacement)"
            if "--run-service-proxy=true" in arguments:
                return "kube-router (--run-service-proxy)"
    for dump in snapshot.node_dumps:
        if dump.cilium_service_list.strip():
            return f"Cilium (its service list was recorded on node {dump.node})"
    return ""


def pod_problem(pod: Obj) -> str:
    """Why a kube-proxy Pod does not serve ("" when it is running and ready)."""
    phase = k8s.pod_phase(pod)
    if k8s.pod_is_terminating(pod):
        return "terminating"
    for status in k8s.container_statuses(pod):
        state = k8s.as_map(status.get("state"))
        waiting = k8s.as_map(state.get("waiting"))
        if waiting.get("reason"):
            return f"container {status.get('name')} waiting: {waiting.get('reason')}"
        terminated = k8s.as_map(state.get("terminated"))
        if terminated.get("reason"):
            return f"container {status.get('name')} terminated: {terminated.get('reason')}"
    if phase != "Running":
        return f"phase {phase or 'unknown'}"
    if not k8s.pod_is_ready(pod):
        return "running but not ready"
    return ""


# -- evidence -----------------------------------------------------------------------------------


def dump_field(rule_table: str) -> str:
    """The NodeDump field a rule was read from."""
    if rule_table == "ipvs":
        return "ipvsadm"
    return "nftRuleset" if " " in rule_table else "iptablesSave"


def rule_evidence(node: str, rules: Sequence[object], note: str) -> Evidence:
    """The rule lines that prove a finding, as evidence about the node's dump."""
    from svcdoctor.dataplane.analysis import rule_lines
    from svcdoctor.dataplane.interface import Rule

    # The last rules of a path are the Service's own (dispatch, endpoint, DNAT or verdict); the
    # first ones are the hook jumps every packet takes.
    typed = [rule for rule in rules if isinstance(rule, Rule)][-6:]
    field = dump_field(typed[0].table) if typed else "iptablesSave"
    return Evidence(ObjectRef("NodeDump", "", node), field, rule_lines(typed), note)


def unread_evidence(result: NodePaths) -> list[Evidence]:
    """The lines of the node's dump svcdoctor could not read ([] when it read them all): rules
    there were not traced, so a finding about this node may stem from them."""
    problems = result.dataplane.problems
    if not problems:
        return []
    return [Evidence(ObjectRef("NodeDump", "", result.dump.node), None, list(problems[:5]),
                     f"{len(problems)} line(s) of this dump could not be read and were not traced")]


def inspect_commands(context: Context, dataplane: NodeDataplane, path: PathResult | None = None) -> list[str]:
    """Commands to run on the node to see the rules for this Service."""
    namespace, name = context.target.namespace, context.target.name
    node = dataplane.node
    commands = []
    if dataplane.mode == "ipvs" and path is not None:
        flag = {"TCP": "-t", "UDP": "-u", "SCTP": "--sctp-service"}.get(path.protocol, "-t")
        commands.append(f"ipvsadm -Ln {flag} {path.address}:{path.port}   # on node {node}")
    elif dataplane.mode == "nftables":
        commands.append(f"nft list ruleset | grep -n '{namespace}/{name}/'   # on node {node}")
    else:
        commands.append(f"iptables-save | grep -n '{namespace}/{name}'   # on node {node}")
    commands.append(f"kubectl get pods -n kube-system -l k8s-app=kube-proxy -o wide --field-selector "
                    f"spec.nodeName={node}")
    commands.append("kubectl logs -n kube-system -l k8s-app=kube-proxy --tail=50")
    return commands
