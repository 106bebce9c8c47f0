"""SD607 — A CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy denies this client.

What it detects:
    For the client given with ``--from`` / ``--from-ip`` / ``--from-node``, Cilium's policies that
    select the Service's backend Pods (ingress) or the client Pod (egress) drop the connection on
    the Pod port the Service leads to, at L3/L4. Evaluated as Cilium does: ``endpointSelector``
    (own namespace for a CiliumNetworkPolicy, every namespace for a clusterwide one),
    ``fromEndpoints``/``toEndpoints`` with ``k8s:io.kubernetes.pod.namespace`` for other
    namespaces, ``fromEntities``/``toEntities`` (world, cluster, host, remote-node, all),
    ``fromCIDR``/``fromCIDRSet`` (outside addresses only), ``toPorts`` (numbers, names, ranges,
    protocols), ``ingressDeny``/``egressDeny`` (deny wins), default deny once a rule with that
    direction selects the endpoint (``enableDefaultDeny`` honoured), and Kubernetes NetworkPolicies
    merged into the same allow set, as Cilium merges them. L7 rules (``toPorts[].rules``: HTTP,
    Kafka, DNS) are reported as not evaluated, never guessed.

    A snapshot that holds no CiliumClusterwideNetworkPolicy objects, or no CiliumNetworkPolicy
    objects of the Service's or the client's namespace, and does not say it listed them
    (``SnapshotInfo.recorded``), leaves step 6 ``partial`` naming those kinds. Live, a CRD that is
    not installed (404) means none exist; a refused read (403) makes the step ``unknown``.

Why it matters:
    Cilium puts an endpoint into default deny once any of its policies selects it in a direction,
    and a deny rule wins over every allow: the connection times out while the NetworkPolicies look
    fine.

    A plain NetworkPolicy reader sees nothing wrong — the drop comes from a CRD it does not read.
    The finding names the policy and rule (or the deny rule that won) and gives the rule to append.

How to fix:
    Add an allow rule for the client (fromEndpoints with its labels and
    k8s:io.kubernetes.pod.namespace, and toPorts with the Pod port) to the Cilium policy that
    selects the Pods, or narrow the deny rule.

Example:
    The scenario fixtures/scenarios/cilium-starwars-xwing-denied: Cilium's Star Wars demo after
    sw_l3_l4_policy.yaml; rule1 admits only org=empire endpoints on 80/TCP, so the xwing is dropped.

    $ cd fixtures/scenarios/cilium-starwars-xwing-denied
    $ svcdoctor check deathstar -n default --from default/xwing --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Finding
from svcdoctor.netpol.layers import cilium_findings


def run(context: Context) -> Iterator[Finding]:
    yield from cilium_findings(CHECK, context)


CHECK = Check(
    id="SD607",
    name="cilium-policy-denies",
    step=6,
    # A client that policy denies sees its probes to the Pods (or the node ports) time out.
    explains=frozenset({"SD902", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("pods", "namespaces"),
    needs_client=True,
    confidence="likely",
)
