"""The network-namespace lab itself: routing, listeners, rule loading, clean-up."""

from __future__ import annotations

import subprocess

import pytest

from svcdoctor.testing.netns import Lab, LabError, netns_usable
from tests.conftest import require

pytestmark = pytest.mark.netns


def _namespaces() -> set[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in listing.splitlines() if line.split()}


def test_pods_reachable_through_the_node_and_dnat_rules_apply() -> None:
    require(netns_usable(), "needs root and ip netns")
    with Lab() as lab:
        lab.add_pod("web-0", "198.19.0.10")
        lab.add_client("client", "198.18.0.2")
        lab.listen_tcp("web-0", "198.19.0.10", 8080, reply="web-0")
        assert lab.connect_tcp("client", "198.19.0.10", 8080) == "web-0"
        assert lab.connect_tcp("client", "198.19.0.10", 8081) == "refused"
        lab.load_iptables("*nat\n:PREROUTING ACCEPT [0:0]\n"
                          "-A PREROUTING -d 198.18.100.1/32 -p tcp --dport 80"
                          " -j DNAT --to-destination 198.19.0.10:8080\n"
                          "COMMIT\n")
        assert "198.19.0.10:8080" in lab.save_iptables()
        assert lab.connect_tcp("client", "198.18.100.1", 80) == "web-0"
        lab.load_iptables("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n")
        lab.load_nft("table ip t { chain p { type nat hook prerouting priority -100; "
                     "ip daddr 198.18.100.2 tcp dport 80 dnat to 198.19.0.10:8080; }; }\n")
        assert "198.18.100.2" in lab.list_nft()
        assert lab.connect_tcp("client", "198.18.100.2", 80) == "web-0"


def test_everything_is_removed_even_when_the_test_fails() -> None:
    require(netns_usable(), "needs root and ip netns")
    before = _namespaces()
    with pytest.raises(RuntimeError), Lab() as lab:
        lab.add_pod("web-0", "198.19.0.10")
        made = set(lab.namespaces.values())
        assert made <= _namespaces()
        raise RuntimeError("boom")
    assert _namespaces() == before


def test_addresses_outside_the_lab_are_refused() -> None:
    require(netns_usable(), "needs root and ip netns")
    with Lab() as lab:
        with pytest.raises(LabError):
            lab.add_pod("web-0", "10.0.0.5")
        with pytest.raises(LabError):
            lab.connect_tcp("node", "8.8.8.8", 53)
