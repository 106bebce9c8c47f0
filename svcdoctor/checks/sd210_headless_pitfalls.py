"""SD210 — Headless Service pitfalls (no ports → no SRV; StatefulSet serviceName mismatch).

What it detects:
    A headless Service (``clusterIP: None``) without ports — its name still resolves to the ready
    Pod IPs, but there are no SRV records, so clients that discover ports by SRV find nothing; a
    Service that selects a StatefulSet's Pods while that StatefulSet's ``serviceName`` names a
    Service that does not exist or is not headless; and a Service that *is* a StatefulSet's
    governing Service but is not headless (or does not select its Pods).

Why it matters:
    StatefulSet Pods get stable DNS names only through their governing Service, which must exist, be
    headless and select them; a headless Service without ports publishes no SRV records.

    The stable per-Pod names ``<pod>.<serviceName>.<namespace>.svc`` that StatefulSet clients
    (databases, quorum members) rely on exist only when the governing Service exists, is headless
    and selects the Pods. The Service's own name may still work, so this degrades rather than breaks
    it — and only when something uses the per-Pod names (a Pod's command, args, env or a ConfigMap
    of the namespace names ``web-0.nginx`` or ``$(HOSTNAME).nginx``): otherwise a missing or
    non-headless governing Service is harmless, an info note. A wrong ``serviceName`` is reported at
    the StatefulSet's ``serviceName:`` line.

How to fix:
    Give each StatefulSet a headless governing Service named by spec.serviceName that selects its
    Pods; list named ports on headless Services that are discovered through SRV.

Example:
    The scenario fixtures/scenarios/statefulset-governing-not-headless: The governing Service of
    StatefulSet etcd is not headless; the per-Pod names do not exist.

    $ cd fixtures/scenarios/statefulset-governing-not-headless
    $ svcdoctor check etcd -n infra --snapshot snapshot.yaml
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from svcdoctor import derived, k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity, Skip
from svcdoctor.k8s import Obj
from svcdoctor.snapshot import Snapshot


def _template_labels(stateful_set: Obj) -> dict[str, str]:
    template = k8s.as_map(k8s.spec(stateful_set).get("template"))
    return {str(k): str(v) for k, v in k8s.labels(template).items()}


def _namespace_text(snapshot: Snapshot) -> Mapping[str, str]:
    """Per namespace, the text Pods are configured with: commands, args, env values, ConfigMap data."""
    parts: dict[str, list[str]] = {}
    for pod in snapshot.pods:
        bucket = parts.setdefault(k8s.namespace(pod), [])
        spec = k8s.spec(pod)
        for container in [*k8s.containers(spec), *k8s.as_list(spec.get("initContainers"))]:
            if not isinstance(container, Mapping):
                continue
            bucket.extend(str(item) for item in [*k8s.as_list(container.get("command")),
                                                 *k8s.as_list(container.get("args"))])
            bucket.extend(str(variable.get("value") or "") for variable in k8s.as_list(container.get("env"))
                          if isinstance(variable, Mapping))
    for config_map in snapshot.config_maps:
        parts.setdefault(k8s.namespace(config_map), []).extend(
            str(value) for value in k8s.as_map(config_map.get("data")).values())
    return {namespace: "\n".join(texts) for namespace, texts in parts.items()}


def _uses_pod_names(context: Context, set_name: str, governing: str) -> str:
    """A per-Pod DNS name of the StatefulSet that some Pod's configuration uses ("" when none).

    ``web-0.nginx``, or a name built from the Pod's own hostname (``$(HOSTNAME).nginx``,
    ``${POD_NAME}.nginx``): without them, nothing depends on the governing Service.
    """
    text = context.snapshot.memo("sd210-text", _namespace_text).get(context.target.namespace, "")
    if not governing or f".{governing}" not in text:
        return ""
    pattern = re.compile(r"(?:\b" + re.escape(set_name) + r"-\d+|\$\{?\(?[A-Za-z_]\w*\)?\}?)\."
                         + re.escape(governing) + r"(?![\w-])")
    match = pattern.search(text)
    return match.group(0) if match else ""


def _use(context: Context, set_name: str, *services: str) -> tuple[str, str]:
    """A per-Pod name through one of ``services`` that the input uses ("" if none), and a sentence saying so."""
    used = next((found for found in (_uses_pod_names(context, set_name, service) for service in services) if found), "")
    note = (f" {used!r} in the Pods' configuration uses them." if used else
            " Nothing in the input uses them, so this matters only to clients outside it.")
    return used, note


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName":
        raise Skip("an ExternalName Service is a DNS alias")
    snapshot = context.snapshot
    namespace, name = context.target.namespace, context.target.name
    headless = k8s.is_headless(service)
    domain = context.options.cluster_domain

    if headless and not k8s.service_ports(service):
        yield CHECK.finding(
            f"Headless Service {namespace}/{name} declares no ports. {name}.{namespace}.svc still resolves to the "
            "ready Pod IPs, but there are no SRV records (_port._proto names), so clients that discover ports "
            "through SRV find none.",
            severity=Severity.INFO,
            evidence=[Evidence(context.service_ref, "spec.ports", None, "no ports on a headless Service")],
            next=[f"kubectl get service {name} -n {namespace} -o yaml"],
            fix="List the ports the Pods serve (with names) in spec.ports if anything looks them up by SRV.",
            subject=context.service_ref, subject_field="spec.ports", key="no-ports",
        )

    for stateful_set in derived.stateful_sets_in(snapshot, namespace):
        set_name = k8s.name(stateful_set)
        governing = str(k8s.spec(stateful_set).get("serviceName") or "")
        selects = context.has_selector and context.selector.matches(_template_labels(stateful_set))
        set_ref = k8s.ref(stateful_set)
        example = f"{set_name}-0.{governing or name}.{namespace}.svc.{domain}"
        next_commands = [f"kubectl get statefulset {set_name} -n {namespace} -o jsonpath='{{.spec.serviceName}}'",
                         f"kubectl get services -n {namespace} -o wide"]
        if governing == name:
            if not headless:
                used, use_note = _use(context, set_name, governing)
                yield CHECK.finding(
                    f"Service {namespace}/{name} is the governing Service of StatefulSet {set_name} "
                    f"(spec.serviceName), but it is not headless (clusterIP {k8s.cluster_ip(service) or 'set'}): "
                    f"the per-Pod DNS names such as {example} exist only for a headless Service, so they do not "
                    "resolve. The Service's own name still works." + use_note,
                    severity=Severity.WARNING if used else Severity.INFO,
                    evidence=[Evidence(set_ref, "spec.serviceName", governing),
                              Evidence(context.service_ref, "spec.clusterIP", k8s.cluster_ip(service) or None,
                                       "must be None for a governing Service")],
                    next=next_commands,
                    fix=f"Make a headless Service for the StatefulSet (clusterIP: None; clusterIP cannot be changed "
                        f"in place, so delete and re-create {name}, or create a new headless Service and point "
                        f"serviceName at it) and keep a separate ClusterIP Service for clients if needed.",
                    subject=context.service_ref, subject_field="spec.clusterIP", key=f"not-headless-{set_name}",
                )
            elif context.has_selector and not selects and context.selected_pods:
                used, use_note = _use(context, set_name, governing)
                yield CHECK.finding(
                    f"Service {namespace}/{name} is the governing Service of StatefulSet {set_name}, but its selector "
                    f"does not match the StatefulSet's Pod template labels, so the per-Pod names such as {example} "
                    "are not published." + use_note,
                    severity=Severity.WARNING if used else Severity.INFO,
                    evidence=[Evidence(set_ref, "spec.template.metadata.labels", _template_labels(stateful_set)),
                              Evidence(context.service_ref, "spec.selector",
                                       dict(k8s.as_map(k8s.spec(service).get("selector"))))],
                    next=next_commands,
                    fix="Make the governing Service's selector match the StatefulSet's Pod template labels.",
                    subject=context.service_ref, subject_field="spec.selector", key=f"not-selecting-{set_name}",
                )
            continue
        if not selects or not governing:
            continue
        other = snapshot.service(namespace, governing)
        if other is not None and k8s.is_headless(other):
            continue  # a client-facing Service next to a proper governing one: the normal pattern
        if other is None and snapshot.missing("services", namespace):
            continue
        problem = ("does not exist" if other is None
                   else f"is not headless (clusterIP {k8s.cluster_ip(other) or 'set'})")
        evidence = [Evidence(set_ref, "spec.serviceName", governing, f"the governing Service {problem}")]
        if other is not None:
            evidence.append(Evidence(k8s.ref(other), "spec.clusterIP", k8s.cluster_ip(other) or None))
        hint = (f" This Service selects its Pods{' and is headless' if headless else ''} — was serviceName meant "
                f"to be {name!r}?")
        # Names through this Service count too: with a mistyped serviceName they are the ones meant.
        used, use_note = _use(context, set_name, governing, name)
        yield CHECK.finding(
            f"Service {namespace}/{name} selects the Pods of StatefulSet {set_name}, whose governing Service "
            f"{governing!r} (spec.serviceName) {problem}: the Pods' stable DNS names such as {example} do not "
            f"resolve.{hint}{use_note}",
            severity=Severity.WARNING if used else Severity.INFO,
            evidence=evidence,
            next=next_commands,
            fix=(f"Create a headless Service {governing} selecting the StatefulSet's Pods" if other is None else
                 f"Make {governing} headless (clusterIP: None)")
                + f", or point the StatefulSet's serviceName at {name} (serviceName cannot be changed in place: "
                  "re-create the StatefulSet, e.g. with kubectl delete --cascade=orphan).",
            subject=set_ref, subject_field="spec.serviceName", key=f"governing-{set_name}",
        )


CHECK = Check(
    id="SD210",
    name="headless-pitfalls",
    step=2,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
    impact="degraded",
    confidence="likely",
)
