"""SD807 — Hairpin: the client is one of the Service's endpoints and its node cannot send its traffic back to it.

What it detects:
    The Debug Services page's "a Pod fails to reach itself via the Service IP". When the client
    Pod (``--from``) is itself a ready endpoint of the Service, a connection to the ClusterIP may
    be sent back to the client: the packet then leaves the Pod's veth and must come back in
    through the same port. With bridge-based CNIs that needs the bridge plugin's ``hairpinMode``:
    flannel keeps its CNI configuration in the ``kube-flannel-cfg`` ConfigMap (namespace
    ``kube-flannel``, or ``kube-system`` on older installs), whose ``cni-conf.json`` must give the
    delegate ``"hairpinMode": true``; the kubelet's own ``hairpinMode: none`` (kubenet) turns it
    off. Calico and Cilium route each Pod through its own interface and have no such switch. With
    probes, it also recognises the pattern itself: the client's connection to its own Service IP
    fails while the same port on its own Pod IP answers.

    With a node dump of the client's node it also checks kube-proxy's own part: the connection sent
    back to the Pod must be masqueraded, or the Pod answers itself directly and the connection never
    completes. The Pod's connection to each ClusterIP:port is traced through the dump; where it
    lands on the Pod, it must end masqueraded — kube-proxy's iptables mode marks it with
    ``-s <Pod IP>/32 -j KUBE-MARK-MASQ`` first in the ``KUBE-SEP-*`` chain, its nftables mode with
    ``ip saddr <Pod IP> jump mark-for-masquerade`` in the ``endpoint-*`` chain, and
    ``KUBE-POSTROUTING`` / ``masquerading`` masquerade the mark. The finding says whether the
    marking rule is missing or the mark is never masqueraded. In IPVS mode the dump must hold
    ``-m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE``; the ipset's members are not in
    ``iptables-save`` and are reported as not checked, as is a client node without a dump.

Why it matters:
    Without hairpin mode the bridge drops a frame whose way out is the port it came in on, so the
    share of the client's connections that kube-proxy happens to send to the client itself time
    out (all of them when it is the only endpoint), while every other client works.

How to fix:
    Set ``"hairpinMode": true`` in the flannel delegate of ``cni-conf.json`` in ``kube-flannel-cfg``
    (the manifest's default) and restart the flannel Pods, or the kubelet's ``hairpinMode`` to
    ``hairpin-veth`` / ``promiscuous-bridge``; recreate the affected Pods so their veths pick it up.

    For kube-proxy's part: it writes these rules on every sync; read its logs on the node, restart
    it, and stop any other program (firewalld, a Docker restart) from rewriting the nat table.

Example:
    The scenario fixtures/scenarios/hairpin-flannel-disabled: flannel's CNI configuration lacks
    ``hairpinMode``; the Service's only Pod calls its own Service.

    $ cd fixtures/scenarios/hairpin-flannel-disabled
    $ svcdoctor check chat -n talk --from talk/chat-k7crgn9lb-6mmcw --snapshot snapshot.yaml

    The scenario fixtures/scenarios/hairpin-kube-proxy-masquerade-lost: flannel's hairpin mode is on,
    but node-a's nat POSTROUTING lost kube-proxy's jump to KUBE-POSTROUTING, so the chat Pod's
    connections to itself are marked and never masqueraded.

    $ cd fixtures/scenarios/hairpin-kube-proxy-masquerade-lost
    $ svcdoctor check chat -n talk --from talk/chat-k7crgn9lb-6mmcw --snapshot snapshot.yaml
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

import yaml

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.dataplane.analysis import node_addresses
from svcdoctor.dataplane.checking import NO_DUMP_HOW, detect_replacement, rule_evidence
from svcdoctor.dataplane.hairpin import LOOP_BACK_SET, hairpins
from svcdoctor.dataplane.interface import Rule
from svcdoctor.dataplane.node import load
from svcdoctor.findings import Evidence, Finding, NotChecked, Skip
from svcdoctor.k8s import Obj

FLANNEL_CONFIG = "kube-flannel-cfg"
FLANNEL_NAMESPACES = ("kube-flannel", "kube-system")
NO_CNI_HOW = ("record flannel's kube-flannel-cfg ConfigMap (kube-flannel or kube-system), the kubelet-config "
              "ConfigMap, or the CNI's DaemonSet (calico-node, cilium) so the hairpin setting can be read")


def _flannel(context: Context) -> tuple[Obj, bool | None, str] | None:
    """flannel's ConfigMap, whether its CNI config turns hairpin mode on (None: unreadable), and why."""
    for config_map in context.snapshot.config_maps:
        if k8s.name(config_map) != FLANNEL_CONFIG or k8s.namespace(config_map) not in FLANNEL_NAMESPACES:
            continue
        text = str(k8s.as_map(config_map.get("data")).get("cni-conf.json") or "")
        try:
            document = json.loads(text)
        except ValueError:
            return config_map, None, "its cni-conf.json is not valid JSON"
        plugins = k8s.as_list(document.get("plugins")) if isinstance(document, Mapping) else []
        if not plugins and isinstance(document, Mapping):
            plugins = [document]
        for plugin in plugins:
            if isinstance(plugin, Mapping) and plugin.get("type") == "flannel":
                delegate = k8s.as_map(plugin.get("delegate"))
                value = delegate.get("hairpinMode")
                return config_map, value is True, f'the flannel delegate has "hairpinMode": {json.dumps(value)}' \
                    if value is not None else "the flannel delegate has no hairpinMode (the bridge's default: off)"
        return config_map, None, "its cni-conf.json has no flannel plugin"
    return None


def _kubelet_hairpin(context: Context) -> tuple[Obj, str] | None:
    for config_map in context.snapshot.config_maps:
        if k8s.namespace(config_map) == "kube-system" and k8s.name(config_map).startswith("kubelet-config"):
            try:
                document = yaml.safe_load(str(k8s.as_map(config_map.get("data")).get("kubelet") or ""))
            except yaml.YAMLError:
                continue
            if isinstance(document, Mapping) and document.get("hairpinMode"):
                return config_map, str(document["hairpinMode"])
    return None


def _routed_cni(context: Context) -> str:
    """Calico or Cilium when the snapshot shows one (they have no hairpin switch)."""
    names = {k8s.name(item) for item in [*context.snapshot.daemon_sets, *context.snapshot.config_maps]}
    if names & {"calico-node", "calico-config"}:
        return "Calico"
    if names & {"cilium", "cilium-config"}:
        return "Cilium"
    return ""


def _probe_pattern(context: Context, pod: Obj, own_addresses: set[str]) -> list[Evidence]:
    """Probe results showing the pattern: the ClusterIP fails from the client, its own Pod IP answers."""
    source = f"{k8s.namespace(pod)}/{k8s.name(pod)}"
    service = context.require_service()
    cluster_ips = {str(ip) for ip in k8s.as_list(k8s.spec(service).get("clusterIPs")) or [k8s.cluster_ip(service)]}
    own = [probe for probe in context.snapshot.probe_results if probe.source == source]
    failed = [probe for probe in own if probe.ip in cluster_ips and probe.result in ("timeout", "unreachable")]
    answered = [probe for probe in own if probe.ip in own_addresses and probe.result == "open"]
    if not failed or not answered:
        return []
    return [Evidence(None, None, f"{probe.ip}:{probe.port}/{probe.protocol} {probe.result}",
                     f"probe from {source}") for probe in [*failed[:2], *answered[:2]]]


def run(context: Context) -> Iterator[Finding]:
    context.require_service()
    pod = context.require_client_pod()
    if pod is None:
        # Not evidence that was left out: hairpin is a property of one client Pod, so without one
        # the question does not arise (step 8's other checks speak for clients in general).
        raise Skip("the client is not a Pod (--from NS/POD): hairpin is about a Pod reaching itself")
    ref = k8s.ref(pod)
    own_addresses = set(k8s.pod_ips(pod))
    mine = [endpoint for endpoint in context.service_endpoints
            if endpoint.ready and (endpoint.address in own_addresses or endpoint.target == ref)]
    if not mine:
        raise Skip("the client is not an endpoint of the Service: hairpin does not apply")
    if k8s.spec(pod).get("hostNetwork"):
        raise Skip("the client uses the host's network: its traffic does not cross a bridge port")
    ready = {endpoint.address for endpoint in context.service_endpoints if endpoint.ready}
    alone = ready <= own_addresses
    share = ("All of the client's connections to the Service land on itself and time out" if alone else
             f"The connections sent back to the client itself (about 1 in {len(ready)}) time out")
    severity = "error" if alone else "warning"
    evidence = [Evidence(ref, "status.podIP", k8s.pod_ip(pod), "the client is an endpoint of the Service")]
    observed = _probe_pattern(context, pod, own_addresses)
    flannel = _flannel(context)
    kubelet = _kubelet_hairpin(context)
    cause = ""
    fix = None
    if flannel is not None and flannel[1] is False:
        config_map, _, why = flannel
        cause = f"flannel's CNI configuration turns hairpin mode off: {why}"
        evidence.append(Evidence(k8s.ref(config_map), "data.cni-conf.json", why))
        fix = (f'Set "hairpinMode": true in the flannel delegate of cni-conf.json in ConfigMap '
               f"{k8s.namespace(config_map)}/{FLANNEL_CONFIG}, restart the flannel Pods, then recreate this Pod.")
    elif kubelet is not None and kubelet[1] == "none":
        cause = "the kubelet runs with hairpinMode: none"
        evidence.append(Evidence(k8s.ref(kubelet[0]), "data.kubelet", "hairpinMode: none"))
        fix = "Set the kubelet's hairpinMode to hairpin-veth (or promiscuous-bridge) and recreate this Pod."
    elif observed:
        cause = "probes show it: the client's own Service IP fails while its Pod IP answers"
    findings: list[Finding] = []
    if cause:
        findings.append(CHECK.finding(
            f"Client {ref.namespace}/{ref.name} is itself an endpoint of {context.target.name}, and its node cannot "
            f"send its traffic back to it (hairpin): {cause}. {share}; other clients work.",
            severity=severity, evidence=[*evidence, *observed], fix=fix, subject=ref, key="hairpin",
            next=[f"kubectl get configmap {FLANNEL_CONFIG} -n kube-flannel -o jsonpath='{{.data.cni-conf\\.json}}'",
                  f"kubectl exec -n {ref.namespace} {ref.name} -- wget -qO- -T 3 "
                  f"{k8s.cluster_ip(context.require_service())}"],
        ))
    findings.extend(_kube_proxy_masquerade(context, pod, severity, share))
    yield from findings
    unread: tuple[str, str] | None = None
    if not cause and flannel is not None and flannel[1] is None:
        unread = (f"flannel's CNI configuration could not be read ({flannel[2]})",
                  f"check data.cni-conf.json of {k8s.namespace(flannel[0])}/{FLANNEL_CONFIG}")
    elif not cause and flannel is None and kubelet is None and not _routed_cni(context):
        unread = ("the CNI's hairpin setting is not in the snapshot", NO_CNI_HOW)
    if unread is not None:
        if not findings:
            raise NotChecked(*unread)
        context.note_unverified(*unread)


def _key_rules(rules: tuple[Rule, ...]) -> list[Rule]:
    """The rules that show it: the translation (the Service and endpoint chains up to the DNAT) and what
    the translated packet met afterwards in the same table (postrouting)."""
    dnat = next((index for index, rule in enumerate(rules) if rule.action[0] == "dnat"), None)
    if dnat is None:
        return list(rules)
    table = rules[dnat].table
    return [*rules[max(0, dnat - 3):dnat + 1], *[rule for rule in rules[dnat + 1:] if rule.table == table][:3]]


def _kube_proxy_masquerade(context: Context, pod: Obj, severity: str, share: str) -> list[Finding]:
    """kube-proxy's masquerade of the Pod's connections to itself, from its node's dump."""
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName" or k8s.is_headless(service):
        return []
    node = str(k8s.spec(pod).get("nodeName") or "")
    dump = context.snapshot.node_dump(node) if node else None
    replacement = detect_replacement(context.snapshot)
    if dump is None:
        if not replacement:
            what = "no node dump" if not context.snapshot.node_dumps else f"no node dump of {node or 'its node'}"
            context.note_unverified(f"{what}: kube-proxy's masquerade of the client's traffic to itself", NO_DUMP_HOW)
        return []
    dataplane = load(dump)
    if not dataplane.has_kube_proxy_rules:
        return []  # no kube-proxy rules at all on the node: SD802 (or the replacement) speaks for it
    addresses = node_addresses(context.snapshot.node(node))
    paths = hairpins(dataplane, service, k8s.pod_ips(pod), addresses)
    undecided = [path for path in paths if path.masqueraded is None]
    if undecided:
        context.note_unverified(f"whether node {node} masquerades the client's traffic to itself: "
                                f"{undecided[0].undecided}",
                                f"ipset list {LOOP_BACK_SET}   # on node {node}" if dataplane.mode == "ipvs"
                                else f"iptables-save -t nat; nft list ruleset   # on node {node}")
    broken = [path for path in paths if path.masqueraded is False]
    if not broken:
        return []
    first = broken[0]
    ref = k8s.ref(pod)
    ip, target = first.destination
    if dataplane.mode == "ipvs":
        why = (f"its KUBE-POSTROUTING chain has no `-m set --match-set {LOOP_BACK_SET} dst,dst,src -j MASQUERADE` "
               "rule (kube-proxy's IPVS mode masquerades a Pod's traffic to itself through that ipset)")
    elif first.marking is not None:
        why = (f"the packet is marked for masquerade (`{first.marking.text}`) but nothing in nat POSTROUTING "
               "masquerades that mark (kube-proxy's jump to KUBE-POSTROUTING / its masquerading chain is missing)")
    elif dataplane.mode == "nftables":
        why = (f"its endpoint chain does not mark source {ip} (`ip saddr {ip} jump mark-for-masquerade`), nor does "
               "the masquerading chain match the connection in the hairpin-connections set (`ct status dnat ip "
               "saddr . ip daddr . meta l4proto . th dport @hairpin-connections masquerade`); kube-proxy writes "
               "one or the other")
    else:
        why = (f"the endpoint chain for {ip}:{target} does not start with `-s {ip}/32 -j KUBE-MARK-MASQ`, which "
               "kube-proxy writes there")
    return [CHECK.finding(
        f"Client {ref.namespace}/{ref.name} is itself an endpoint of {context.target.name}, and kube-proxy's rules "
        f"on node {node} do not masquerade its connections to {first.cluster_ip}:{first.port}/{first.protocol.upper()} "
        f"that they send back to it ({ip}:{target}): {why}. The Pod then gets its own packet from its own address, "
        f"answers itself directly instead of through the translation, and the connection never completes. {share}.",
        severity=severity, subject=ref, key="masquerade", node=node,
        evidence=[rule_evidence(node, _key_rules(first.rules), "the path of the client's connection to itself")],
        next=[f"iptables-save -t nat | grep -e KUBE-POSTROUTING -e '{ip}/32'   # on node {node}"
              if dataplane.mode != "nftables" else f"nft list table ip kube-proxy | grep -e masq -e '{ip}'   "
                                                   f"# on node {node}",
              f"kubectl logs -n kube-system -l k8s-app=kube-proxy --tail=50   # the Pod on {node}"],
        fix=(f"kube-proxy writes this rule on every sync: look for sync errors in its logs on {node} and restart it "
             f"(kubectl -n kube-system delete pod -l k8s-app=kube-proxy --field-selector spec.nodeName={node}); if "
             "another program (firewalld, a Docker restart, a CNI) rewrites the nat table, stop it from removing "
             "kube-proxy's rules."),
    )]


CHECK = Check(
    id="SD807",
    name="hairpin",
    step=8,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("pods",),
    runtime=True,
)
