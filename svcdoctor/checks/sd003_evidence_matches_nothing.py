"""SD003 — Recorded evidence matches nothing in the snapshot.

What it detects:
    A recorded ProbeResult whose address is no Service address (ClusterIP, a NodePort on a node
    address, a load-balancer or external IP, the DNS Service) and no Pod IP of the snapshot, and a
    recorded DNSAnswer about a name that means no Service, Pod or ExternalName target the snapshot
    holds. What a probe went to is worked out from the snapshot alone, never from a field the
    producer added. And a node dump (``--node-dump``) of a node the snapshot holds no Node of — a
    dump of another cluster, or named after a host name that is not the Node's name (``collect
    node`` without ``--node-name``): its rules are not traced for this cluster's Services, and step
    8 says it has no dump of a node it knows.

Why it matters:
    Evidence that speaks for no object cannot support a step; it is reported instead of silently dropped.

    A probe recorded against the wrong snapshot (or a typo in a name) must not pass unnoticed; the
    steps that needed it stay partial.

How to fix:
    Record probes and DNS answers together with the objects, from the same cluster (svcdoctor record --probe).

Example:
    The scenario fixtures/scenarios/probes-plain-every-address-refuses: probes written as DESIGN.md
    shows them; one went to an address no object of the snapshot has.

    $ cd fixtures/scenarios/probes-plain-every-address-refuses
    $ svcdoctor check api -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.dataplane.checking import unknown_node_dumps
from svcdoctor.dns.domain import cluster_domain
from svcdoctor.dns.evidence import unmatched_answers
from svcdoctor.findings import Evidence, Finding, Skip
from svcdoctor.k8s import ObjectRef
from svcdoctor.probe.analysis import probe_evidence, unmatched


def run(context: Context) -> Iterator[Finding]:
    snapshot = context.snapshot
    if not snapshot.probe_results and not snapshot.dns_answers and not snapshot.node_dumps:
        raise Skip("no probes, DNS answers or node dumps")
    probes = unmatched(snapshot)
    answers = unmatched_answers(snapshot, cluster_domain(snapshot, context.options.cluster_domain).domain)
    dumps = unknown_node_dumps(snapshot)
    if not probes and not answers and not dumps:
        return
    parts = []
    if probes:
        parts.append(f"{len(probes)} probe(s) to addresses no Service or Pod of the snapshot has "
                     f"({', '.join(sorted({f'{p.ip}:{p.port}/{p.protocol}' for p in probes})[:4])})")
    if answers:
        parts.append(f"{len(answers)} DNS answer(s) about names no Service or Pod of the snapshot has "
                     f"({', '.join(sorted({a.name for a in answers})[:4])})")
    if dumps:
        known = sorted(k8s.name(node) for node in snapshot.nodes)
        parts.append(f"{len(dumps)} node dump(s) of nodes the snapshot has no Node of "
                     f"({', '.join(sorted({dump.node for dump in dumps})[:4])}; its Nodes: "
                     f"{', '.join(known[:6])}{' …' if len(known) > 6 else ''})")
    yield CHECK.finding(
        "Evidence that matches nothing in the snapshot: " + "; ".join(parts) + ". It was not used for any "
        "step; was it recorded against another cluster or another version of these objects?",
        severity="info",
        evidence=[*(Evidence(None, "ProbeResult", probe_evidence(probe), "no Service address or Pod IP")
                    for probe in probes[:6]),
                  *(Evidence(None, "DNSAnswer", {"name": answer.name, "type": answer.type, "rcode": answer.rcode},
                             "no Service, Pod or ExternalName target of that name") for answer in answers[:6]),
                  *(Evidence(ObjectRef("NodeDump", "", dump.node), "metadata.name", dump.node,
                             "no Node of this name in the snapshot") for dump in dumps[:6])],
        next=["kubectl get services,pods -A -o wide   # the addresses the snapshot should hold",
              *(["kubectl get nodes -o wide   # a dump is named after its Node: collect node --node-name NODE"]
                if dumps else [])],
        fix="Record the evidence and the objects together (svcdoctor record --probe), from the same cluster; name "
            "a node dump after its Node (`collect node --node-name`).",
        key="unmatched",
    )


CHECK = Check(
    id="SD003",
    name="evidence-matches-nothing",
    step=0,
    doc=CheckDoc.parse(__doc__),
    run=run,
    runtime=True,
)
