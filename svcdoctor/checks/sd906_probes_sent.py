"""SD906 — Where the probes were sent from.

What it detects:
    Reports, whenever probes or DNS answers are in the snapshot: the place they were sent from (a
    Pod and its node, a node, or an address outside the cluster), how many probes went to which kind
    of address, what came back, and the DNS servers asked.

Why it matters:
    Probe results depend on the node and network they left from; the report says which.

    A probe result only means something together with where it was sent from — kube-proxy rules and
    NetworkPolicies apply per node and per source.

How to fix:
    Nothing to fix; run from another place (docs/dns-and-probes.md) to compare.

Example:
    The scenario fixtures/scenarios/healthy-externalname-resolves: Healthy ExternalName Service for
    a managed database: the recorded lookup of the Service name follows the CNAME to an address, so
    nothing fires.

    $ cd fixtures/scenarios/healthy-externalname-resolves
    $ svcdoctor check postgres -n billing --from billing/invoicer-wfdg7wsjr-hshqj --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Skip
from svcdoctor.probe.analysis import classified, where_sent_from


def run(context: Context) -> Iterator[Finding]:
    snapshot = context.snapshot
    probes = classified(snapshot)
    answers = snapshot.dns_answers
    if not probes and not answers:
        raise Skip("no probes and no DNS answers")
    sources = list(dict.fromkeys([p.source for p in probes if p.source] + [a.source for a in answers if a.source]))
    kinds = Counter(p.target or "an address the snapshot does not hold" for p in probes)
    results = Counter(p.result for p in probes)
    longest = max((p.seconds for p in probes if p.seconds is not None), default=None)
    servers = sorted({a.server for a in answers if a.server})
    parts = []
    if probes:
        parts.append(f"{len(probes)} probe(s) ({', '.join(f'{n} to {k}' for k, n in sorted(kinds.items()))}): "
                     + ", ".join(f"{n} {r}" for r, n in sorted(results.items())))
    if answers:
        parts.append(f"{len(answers)} DNS answer(s)" + (f" from {', '.join(servers)}" if servers else ""))
    message = f"Sent from {where_sent_from(snapshot, sources)}: " + "; ".join(parts) + "."
    if longest is not None:
        message += f" The slowest probe took {longest:.2f} s."
    yield CHECK.finding(
        message,
        severity="info",
        evidence=[Evidence(None, "from", source) for source in sources[:4]],
        next=[],
        fix="",
    )


CHECK = Check(
    id="SD906",
    name="probes-sent-from",
    step=9,
    doc=CheckDoc.parse(__doc__),
    run=run,
    runtime=True,
)
