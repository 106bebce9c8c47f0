"""SD217 — Dual-stack: the Service's IP families, its Pods' addresses and the client's family disagree.

What it detects:
    The Service's ``spec.ipFamilies`` (and ``ipFamilyPolicy``) against what can serve and use them:
    a family of the Service whose EndpointSlices (one per ``addressType``) hold no ready endpoint
    while the selected Pods have no address of that family in ``status.podIPs`` (or have one the
    slices lack); and a client (``--from``, ``--from-ip``, ``--from-node``) whose own addresses are
    all of a family the Service does not have. A ``PreferDualStack`` Service that got one family
    in a cluster whose Pods have both is reported as info.

    With DNS evidence (``DNSAnswer`` objects, or ``--probe``) the A/AAAA answers about the Service
    are read against its families: the client's queries of its own family are quoted (no record,
    as the Service has none of that family), and without ``--from`` each Pod the answers were asked
    from counts as a client (a warning: one client, not clients in general). A wrong or missing
    address of a family the Service has is SD702's finding.

    Before any of that, the family settings the API server refuses (so the Service is never
    created): two ``ipFamilies`` or two ``clusterIPs`` without ``PreferDualStack`` /
    ``RequireDualStack`` (no policy is SingleStack), a family listed twice or not IPv4/IPv6, a
    ``clusterIPs`` entry of another family than its ``ipFamilies`` entry, or either field on an
    ExternalName Service. With ``--manifests`` only these are checked; the Pods' families, the
    per-family EndpointSlices and the client's family exist only in a running cluster and are said
    to be not checked.

Why it matters:
    A ClusterIP of one family only forwards to endpoints of that family: an IPv6 ClusterIP whose
    Pods have only IPv4 addresses has no endpoints, and an IPv6-only client cannot use an
    IPv4-only Service at all (nor resolve it: the name has no AAAA record). Such a Service works
    from some clients and fails from others, which looks like a flaky network.

How to fix:
    Give the Service the families its clients use (``ipFamilyPolicy: PreferDualStack`` or
    ``RequireDualStack``, ``ipFamilies: [IPv4, IPv6]``; ``ipFamilies`` can only be changed by
    adding the second family), and make sure its Pods get addresses of each family (the CNI's
    dual-stack pools, ``--cluster-cidr`` with both families).

Example:
    The scenario fixtures/scenarios/dual-stack-ipv6-client-ipv4-service: an IPv6-only client Pod
    and an IPv4-only (``SingleStack``) Service in a dual-stack cluster.

    $ cd fixtures/scenarios/dual-stack-ipv6-client-ipv4-service
    $ svcdoctor check orders -n shop --from shop/reporter-58d5c8b7f-2kzqn --snapshot snapshot.yaml
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.dns.domain import cluster_domain
from svcdoctor.dns.evidence import answers_about
from svcdoctor.findings import Evidence, Finding, Skip
from svcdoctor.k8s import Obj
from svcdoctor.snapshot import DNSAnswer

FAMILIES = {4: "IPv4", 6: "IPv6"}


def family(address: str) -> int:
    """4 or 6 (0 when ``address`` is not an IP address)."""
    try:
        return ipaddress.ip_address(address.strip()).version
    except ValueError:
        return 0


def service_families(service: Obj) -> list[int]:
    """The Service's families in order: ``spec.ipFamilies``, else those of its ClusterIPs."""
    spec = k8s.spec(service)
    named = [{"IPv4": 4, "IPv6": 6}.get(str(item)) for item in k8s.as_list(spec.get("ipFamilies"))]
    found = [item for item in named if item]
    if not found:
        found = [family(str(ip)) for ip in k8s.as_list(spec.get("clusterIPs")) or [spec.get("clusterIP") or ""]]
    return list(dict.fromkeys(item for item in found if item))


def _families_of(addresses: Iterable[str]) -> set[int]:
    return {family(address) for address in addresses} - {0}


def _client_addresses(context: Context) -> list[str]:
    client = context.client
    if client is None:
        return []
    if client.kind == "ip":
        return [client.ip]
    if client.kind == "node":
        node = context.snapshot.node(client.name)
        return [str(item.get("address")) for item in k8s.as_list(k8s.status(node or {}).get("addresses"))
                if isinstance(item, dict) and item.get("type") in ("InternalIP", "ExternalIP")]
    pod = context.client_pod
    return k8s.pod_ips(pod) if pod is not None else []


POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")


def refused(service: Obj) -> Iterator[tuple[str, str]]:
    """(field, why) for each family setting the API server refuses (so the Service is never created).

    The rules of the API server's Service validation: ``ipFamilies`` holds at most two distinct
    families of IPv4/IPv6; two families or two ``clusterIPs`` need ``PreferDualStack`` or
    ``RequireDualStack`` (no policy means SingleStack); ``clusterIPs[i]`` must be of family
    ``ipFamilies[i]``; an ExternalName Service may set neither field.
    """
    spec = k8s.spec(service)
    names = [str(item) for item in k8s.as_list(spec.get("ipFamilies"))]
    policy = spec.get("ipFamilyPolicy")
    if k8s.service_type(service) == "ExternalName":
        for field_name in ("ipFamilies", "ipFamilyPolicy"):
            if spec.get(field_name):
                yield f"spec.{field_name}", "may not be set for type ExternalName"
        return
    if policy is not None and policy not in POLICIES:
        yield "spec.ipFamilyPolicy", f"{policy!r} is not one of {', '.join(POLICIES)}"
    for index, name in enumerate(names):
        if name not in FAMILIES.values():
            yield f"spec.ipFamilies[{index}]", f"{name!r} is not IPv4 or IPv6"
        elif name in names[:index]:
            yield f"spec.ipFamilies[{index}]", f"{name} is listed twice"
    if len(names) > 2:
        yield "spec.ipFamilies", "holds more than two families"
    ips = [str(ip) for ip in k8s.as_list(spec.get("clusterIPs")) if ip and ip != "None"]
    if (policy or "SingleStack") == "SingleStack" and (len(set(names)) == 2 or len(ips) == 2):
        what = "IP families" if len(set(names)) == 2 else "cluster IPs"
        yield ("spec.ipFamilyPolicy", f"must be 'RequireDualStack' or 'PreferDualStack' when multiple {what} "
               f"are specified (it is {policy or 'unset, so SingleStack'})")
    for index, ip in enumerate(ips[:len(names)]):
        if FAMILIES.get(family(ip)) not in (names[index], None):
            yield (f"spec.clusterIPs[{index}]", f"{ip} is not {names[index]}, the family ipFamilies[{index}] "
                   "names")


RUNTIME_WHAT = ("the Pods' addresses per family, the per-family EndpointSlices and the client's family (they "
                "exist only in a running cluster)")


#: The address family each record type asks for.
RECORD_FAMILY = {"A": 4, "AAAA": 6}


def _address_answers(context: Context) -> list[DNSAnswer]:
    """The recorded A/AAAA answers about the Service (any spelling of its name) that cluster DNS gave."""
    if not context.snapshot.dns_answers:
        return []
    zone = cluster_domain(context.snapshot, context.options.cluster_domain).domain
    about = answers_about(context.snapshot, context.target.namespace, context.target.name, zone)
    return [item.answer for item in about if item.relation == "service" and item.answer.type in RECORD_FAMILY
            and item.answer.rcode == "NOERROR"]


def _clients(context: Context, answers: list[DNSAnswer]) -> Iterator[tuple[str, list[str], bool]]:
    """(client, its addresses, whether it was given): the given client, else the Pods the recorded answers
    about the Service were asked from (they tried to reach it)."""
    if context.client is not None:
        yield str(context.client), _client_addresses(context), True
        return
    for source in sorted({answer.source for answer in answers if "/" in answer.source
                          and not answer.source.startswith("node/")}):
        namespace, _, name = source.partition("/")
        pod = context.snapshot.pod(namespace, name)
        if pod is not None:
            yield source, k8s.pod_ips(pod), False


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    problems = list(refused(service))
    if problems:
        field_name, _ = problems[0]
        yield CHECK.finding(
            f"The API server refuses Service {context.target.namespace}/{context.target.name}'s IP family "
            f"settings, so it is never created: " + "; ".join(f"{where} {why}" for where, why in problems) + ".",
            evidence=[Evidence(context.service_ref, where, k8s.spec(service).get(where.split(".")[1].split("[")[0]),
                               why) for where, why in problems],
            fix="Set ipFamilyPolicy: PreferDualStack (or RequireDualStack) when the Service lists two families or "
                "two clusterIPs, list each of IPv4 and IPv6 at most once, keep clusterIPs in the order of "
                "ipFamilies, and set neither on an ExternalName Service.",
            next=[f"kubectl apply --dry-run=server -f <the file of Service {context.target.name}>"],
            subject=context.service_ref, subject_field=field_name, key="refused",
            title="The API server refuses the Service's IP family settings",
        )
        return
    if k8s.service_type(service) == "ExternalName":
        raise Skip("an ExternalName Service has no IP family")
    if context.snapshot.static:
        context.note_unverified(RUNTIME_WHAT, "check the deployed Service: svcdoctor check NAME -n NS (live, or "
                                              "--snapshot of svcdoctor record)")
        return
    spec = k8s.spec(service)
    families = service_families(service)
    if not families:
        raise Skip("the Service records no ipFamilies and no ClusterIP")
    policy = str(spec.get("ipFamilyPolicy") or "SingleStack")
    named = ", ".join(FAMILIES[item] for item in families)
    evidence = [Evidence(context.service_ref, "spec.ipFamilies", [FAMILIES[item] for item in families]),
                Evidence(context.service_ref, "spec.ipFamilyPolicy", policy)]
    answers = _address_answers(context)
    for client, addresses, given in _clients(context, answers):
        client_families = _families_of(addresses)
        if not client_families or client_families & set(families):
            continue
        # What the name answered this client for its own family: no record, as the Service has none.
        asked = [answer for answer in answers if answer.source in (client, "" if given else client)
                 and RECORD_FAMILY[answer.type] in client_families]
        heard = (f" Its {', '.join(sorted({a.type for a in asked}))} queries for the name got "
                 f"{', '.join(sorted({a.rcode + ('' if a.answers else ', no address') for a in asked}))}."
                 if asked else "")
        yield CHECK.finding(
            f"The client {client} has only {', '.join(FAMILIES[item] for item in sorted(client_families))} "
            f"addresses ({', '.join(addresses)}), but the Service has only {named}: the client has no route to "
            f"its ClusterIP and its name has no record of the client's family.{heard}"
            + ("" if given else " (The client is the Pod the recorded DNS answers were asked from.)"),
            evidence=[*evidence, Evidence(None, None, addresses, f"the addresses of {client}"),
                      *(Evidence(None, "DNSAnswer", {"name": a.name, "type": a.type, "rcode": a.rcode,
                                                     "answers": list(a.answers), "from": a.source})
                        for a in asked[:2])],
            next=[f"kubectl get svc {context.target.name} -n {context.target.namespace} "
                  "-o jsonpath='{.spec.ipFamilyPolicy} {.spec.ipFamilies} {.spec.clusterIPs}'"],
            fix="Make the Service dual-stack (ipFamilyPolicy: PreferDualStack, ipFamilies: [IPv4, IPv6]) or "
                "give the client an address of the Service's family.",
            subject=context.service_ref, subject_field="spec.ipFamilies", key=f"client:{client}",
            severity="error" if given else "warning",
        )
    pods = [pod for pod in context.selected_pods if k8s.pod_ips(pod)] if context.has_selector else []
    pod_families = _families_of(ip for pod in pods for ip in k8s.pod_ips(pod))
    ready = _families_of(endpoint.address for endpoint in context.service_endpoints if endpoint.ready)
    if pods:
        for item in families:
            if item in ready:
                continue
            if item not in pod_families:
                why = (f"none of its {len(pods)} Pod(s) has an {FAMILIES[item]} address "
                       f"(status.podIPs: {', '.join(sorted(FAMILIES[f] for f in pod_families))} only)")
            elif other_ready := ready - {item}:
                why = (f"its Pods have {FAMILIES[item]} addresses but no {FAMILIES[item]} EndpointSlice lists them "
                       f"ready, while the {', '.join(FAMILIES[f] for f in sorted(other_ready))} one does")
            else:
                continue
            yield CHECK.finding(
                f"The Service's {FAMILIES[item]} ClusterIP has no ready endpoint: {why}. {FAMILIES[item]} clients "
                "fail while the other family works.",
                severity="warning", evidence=[*evidence, Evidence(k8s.ref(pods[0]), "status.podIPs",
                                                                  k8s.pod_ips(pods[0]))],
                next=[f"kubectl get endpointslices -n {context.target.namespace} "
                      f"-l kubernetes.io/service-name={context.target.name} -o wide",
                      f"kubectl get pods -n {context.target.namespace} -o custom-columns="
                      "NAME:.metadata.name,IPS:.status.podIPs"],
                fix=f"Give the Pods {FAMILIES[item]} addresses (the CNI's dual-stack pools) or drop "
                    f"{FAMILIES[item]} from the Service's ipFamilies.",
                subject=context.service_ref, subject_field="spec.ipFamilies", key=FAMILIES[item],
            )
        missing = sorted(pod_families - set(families))
        if missing and policy == "PreferDualStack" and len(families) == 1:
            other = ", ".join(FAMILIES[item] for item in missing)
            yield CHECK.finding(
                f"The Service prefers dual-stack but has only {named}, while its Pods also have {other} addresses: "
                f"the cluster's Service range has no {other} part, so {other} clients cannot use it.",
                severity="info", evidence=evidence, subject=context.service_ref, key="prefer",
            )


CHECK = Check(
    id="SD217",
    name="dual-stack-mismatch",
    step=2,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
)
