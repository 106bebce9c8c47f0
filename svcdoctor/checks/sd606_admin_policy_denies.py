"""SD606 — An AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy denies this client.

What it detects:
    For the client given with ``--from`` / ``--from-ip`` / ``--from-node``, the connection to the
    Service's backend Pods (on the Pod port each Service port leads to) is denied by a
    cluster-scoped admin policy, evaluated as the API defines: the Admin tier first
    (AdminNetworkPolicy ``policy.networking.k8s.io/v1alpha1``, ClusterNetworkPolicy ``v1alpha2``
    with ``tier: Admin``; by ascending priority the first matching rule decides: Allow/Accept,
    Deny, or Pass to the next tier), then NetworkPolicy (final for the Pods it selects), then the
    Baseline tier (BaselineAdminNetworkPolicy ``default``, ClusterNetworkPolicy ``tier: Baseline``).
    Both the destination's ingress and the client Pod's egress are judged; subjects and peers by
    namespace and Pod selectors, ``networks`` CIDRs and ``nodes``; ports by number, range or
    container port name. A peer svcdoctor cannot read fails closed as the API says; ``domainNames``
    peers are reported as not evaluated.

    A snapshot that holds no objects of a kind the evaluation asked (AdminNetworkPolicy and
    ClusterNetworkPolicy always; BaselineAdminNetworkPolicy when a connection reached the baseline
    tier) and does not say it listed them (``SnapshotInfo.recorded``) leaves step 6 ``partial``
    naming those kinds. Live, a CRD that is not installed (404) means none exist; a refused read
    (403) makes the step ``unknown``.

Why it matters:
    Admin-tier policies are evaluated before (Admin) or after (Baseline) every NetworkPolicy and
    belong to the cluster administrator: the namespace's own policies cannot undo an Admin Deny.

    Editing the NetworkPolicy — the usual reflex — changes nothing. The finding names the policy,
    its tier and priority, the rule that matched and every rule looked at before it.

How to fix:
    Ask the cluster administrator for an Allow/Accept or Pass rule for the client ahead of the
    denying rule; a Baseline Deny is overridden by any NetworkPolicy that selects the Pods and
    admits the client.

Example:
    The scenario fixtures/scenarios/admin-policy-denies-other-tenant: AdminNetworkPolicy
    tenant-isolation passes same-tenant traffic to the NetworkPolicies and denies other tenants;
    the namespace's NetworkPolicy admits frontends of any namespace, but the Admin tier decides
    first.

    $ cd fixtures/scenarios/admin-policy-denies-other-tenant
    $ svcdoctor check api -n tenant-a --from tenant-b/frontend-w9fh6pc5r-lg82c --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Finding
from svcdoctor.netpol.layers import admin_findings


def run(context: Context) -> Iterator[Finding]:
    yield from admin_findings(CHECK, context)


CHECK = Check(
    id="SD606",
    name="admin-policy-denies",
    step=6,
    # A client that policy denies sees its probes to the Pods (or the node ports) time out.
    explains=frozenset({"SD902", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("pods", "namespaces"),
    needs_client=True,
    confidence="likely",
)
