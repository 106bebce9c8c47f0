"""network-policy-api conformance (v0.1.7: AdminNetworkPolicy/BaselineAdminNetworkPolicy v1alpha1;
v0.2.0: ClusterNetworkPolicy v1alpha2), replayed by :mod:`tests.netpol.conformance`.

Each release: 18 standard tests, 83 subtests, 272 pokes; 248 are replayed and must match upstream's
expectation. The 24 others belong to the two ``*EgressInlineCIDRPeers`` tests from the subtest that
builds a rule from live Pod IPs in Go: listed, not guessed.
"""

from __future__ import annotations

import pytest

from svcdoctor.netpol import admin
from tests.netpol.conformance import RELEASES, replay


@pytest.mark.parametrize("release", RELEASES)
def test_every_replayed_poke_matches_upstream(release: str) -> None:
    result = replay(release)
    replayed = [p for p in result.pokes if p.answer is not None]
    wrong = [f"{p.test} / {p.subtest}: {p.client} → {p.server} {p.port}/{p.protocol} expected "
             f"{'allowed' if p.expected else 'denied'}" for p in replayed if p.answer != p.expected]
    assert not wrong, "\n".join(wrong)
    assert len({p.test for p in result.pokes}) == 18
    assert len(replayed) == 248 and len(result.pokes) == 272
    assert sorted(result.stopped) == sorted(t for t in {p.test for p in result.pokes} if "InlineCIDR" in t)


@pytest.mark.parametrize("release", RELEASES)
def test_the_pokes_tell_rule_order_and_pass_apart(release: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard against a replay that cannot fail: Pass read as Allow must break upstream's cases."""
    original = admin._rule

    def pass_as_allow(*args: object, **kwargs: object) -> admin.AdminRule:
        rule = original(*args, **kwargs)  # type: ignore[arg-type]
        if rule.action == admin.PASS:
            return admin.AdminRule(rule.index, rule.name, admin.ALLOW, rule.written_action, rule.peers, rule.ports)
        return rule

    monkeypatch.setattr(admin, "_rule", pass_as_allow)
    result = replay(release)
    assert sum(1 for p in result.pokes if p.answer is not None and p.answer != p.expected) >= 3
