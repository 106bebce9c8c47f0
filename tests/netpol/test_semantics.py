"""Kubernetes NetworkPolicy semantics, one rule at a time (the evaluator alone, no CLI)."""

from __future__ import annotations

from typing import Any

import pytest

from svcdoctor.netpol.evaluator import Evaluator, ip_endpoint, node_endpoint, pod_endpoint
from svcdoctor.netpol.interface import EGRESS, INGRESS, Traffic
from svcdoctor.snapshot import build_snapshot


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}}}


def pod(ns: str, name: str, ip: str, labels: dict[str, str] | None = None, ports: list[dict[str, Any]] | None = None,
        node: str = "node-a", host_network: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": node, "containers": [{"name": "main", "image": "example/app:1",
                                                             "ports": ports or []}]}
    if host_network:
        spec["hostNetwork"] = True
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": ns, "name": name, "labels": labels or {}},
            "spec": spec, "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}}


def policy(ns: str, name: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("podSelector", {})
    if "policy_types" in spec:
        spec["policyTypes"] = spec.pop("policy_types")
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"namespace": ns, "name": name},
            "spec": spec}


WORLD = [
    namespace("prod", team="shop"), namespace("dev", team="shop"), namespace("other"),
    pod("prod", "server", "198.18.0.10", {"app": "server"},
        [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
         {"name": "http", "containerPort": 9090, "protocol": "UDP"},
         {"name": "sig", "containerPort": 3868, "protocol": "SCTP"}]),
    pod("prod", "client", "198.18.0.20", {"app": "client"}),
    pod("dev", "client", "198.18.1.20", {"app": "client"}),
    pod("other", "client", "198.18.2.20", {"app": "client"}),
]


def decide(extra: list[dict[str, Any]], source: str, port: int = 8080, protocol: str = "TCP",
           direction: str = "both") -> bool:
    objects = WORLD + extra
    snapshot = build_snapshot(objects)
    evaluator = Evaluator(snapshot)
    server = pod_endpoint(snapshot.pod("prod", "server") or {})
    if "/" in source:
        ns, name = source.split("/")
        client = pod_endpoint(snapshot.pod(ns, name) or {})
    else:
        client = ip_endpoint(source)
    traffic = Traffic(port, protocol)
    if direction == INGRESS:
        return evaluator.decide(INGRESS, server, client, traffic)
    if direction == EGRESS:
        return evaluator.decide(EGRESS, client, server, traffic)
    return evaluator.allowed(client, server, traffic)


def test_no_policy_means_open() -> None:
    assert decide([], "other/client") and decide([], "203.0.113.9")


def test_selected_without_rules_means_deny_all() -> None:
    assert not decide([policy("prod", "deny")], "prod/client")


def test_policy_types_default_to_ingress_plus_egress_when_egress_rules_exist() -> None:
    only_egress_rules = policy("prod", "egress-only", egress=[{}])
    # No policyTypes: Ingress is always implied, so the server is isolated for ingress with no ingress rule.
    assert not decide([only_egress_rules], "prod/client", direction=INGRESS)
    explicit = policy("prod", "egress-only", egress=[{}], policy_types=["Egress"])
    assert decide([explicit], "prod/client", direction=INGRESS)


def test_egress_rules_are_ignored_when_policy_types_say_ingress() -> None:
    clients = policy("prod", "clients", podSelector={"matchLabels": {"app": "client"}}, egress=[],
                     policy_types=["Ingress"])
    assert decide([clients], "prod/client", direction=EGRESS)


def test_union_of_policies() -> None:
    deny = policy("prod", "deny")
    allow = policy("prod", "allow", ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}])
    assert decide([deny, allow], "prod/client")
    assert not decide([deny, allow], "dev/client")


def test_empty_from_admits_every_source_including_addresses() -> None:
    open_rule = policy("prod", "open", ingress=[{"ports": [{"port": 8080}]}])
    assert decide([open_rule], "other/client") and decide([open_rule], "203.0.113.9")
    assert not decide([open_rule], "other/client", port=8081)


def test_pod_selector_peer_means_own_namespace() -> None:
    rule = policy("prod", "p", ingress=[{"from": [{"podSelector": {}}]}])
    assert decide([rule], "prod/client") and not decide([rule], "dev/client")


def test_namespace_selector_everything_means_every_namespace_but_no_addresses() -> None:
    rule = policy("prod", "p", ingress=[{"from": [{"namespaceSelector": {}}]}])
    assert decide([rule], "other/client") and not decide([rule], "198.18.2.20")


def test_metadata_name_label_selects_a_namespace_by_name() -> None:
    rule = policy("prod", "p", ingress=[{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dev"}}}]}])
    assert decide([rule], "dev/client") and not decide([rule], "other/client")


def test_and_in_one_peer_or_across_peers() -> None:
    both = policy("prod", "and", ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"team": "shop"}},
                                                     "podSelector": {"matchLabels": {"app": "nope"}}}]}])
    either = policy("prod", "or", ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"team": "shop"}}},
                                                     {"podSelector": {"matchLabels": {"app": "nope"}}}]}])
    assert not decide([both], "dev/client")
    assert decide([either], "dev/client")


@pytest.mark.parametrize("source, allowed", [("198.18.1.20", True), ("198.18.1.200", False), ("198.18.2.20", False)])
def test_ip_block_except_also_matches_pod_addresses(source: str, allowed: bool) -> None:
    rule = policy("prod", "p", ingress=[{"from": [{"ipBlock": {"cidr": "198.18.1.0/24",
                                                               "except": ["198.18.1.128/25"]}}]}])
    assert decide([rule], source) is allowed
    if source == "198.18.1.20":
        assert decide([rule], "dev/client")  # that is dev/client's Pod IP


def test_named_port_resolves_per_protocol_on_the_destination() -> None:
    rule = policy("prod", "p", ingress=[{"ports": [{"port": "http"}]}])
    assert decide([rule], "prod/client", port=8080)
    assert not decide([rule], "prod/client", port=9090, protocol="UDP")  # protocol defaults to TCP
    udp = policy("prod", "p", ingress=[{"ports": [{"port": "http", "protocol": "UDP"}]}])
    assert decide([udp], "prod/client", port=9090, protocol="UDP")
    assert not decide([udp], "prod/client", port=8080)


def test_named_port_in_egress_resolves_on_the_remote_destination() -> None:
    rule = policy("dev", "p", podSelector={"matchLabels": {"app": "client"}}, policy_types=["Egress"],
                  egress=[{"ports": [{"port": "http"}]}])
    assert decide([rule], "dev/client", port=8080)
    assert not decide([rule], "dev/client", port=8081)


def test_end_port_range_is_inclusive() -> None:
    rule = policy("prod", "p", ingress=[{"ports": [{"port": 8000, "endPort": 8080}]}])
    assert decide([rule], "prod/client", port=8080) and decide([rule], "prod/client", port=8000)
    assert not decide([rule], "prod/client", port=8081) and not decide([rule], "prod/client", port=7999)


def test_protocol_without_port_means_every_port_of_it() -> None:
    rule = policy("prod", "p", ingress=[{"ports": [{"protocol": "UDP"}]}])
    assert decide([rule], "prod/client", port=9090, protocol="UDP")
    assert not decide([rule], "prod/client", port=9090, protocol="TCP")


def test_sctp_rule_does_not_admit_tcp() -> None:
    rule = policy("prod", "p", ingress=[{"ports": [{"protocol": "SCTP", "port": 3868}]}])
    assert decide([rule], "prod/client", port=3868, protocol="SCTP")
    assert not decide([rule], "prod/client", port=3868, protocol="TCP")


def test_egress_and_ingress_both_needed() -> None:
    deny_egress = policy("dev", "deny-egress", policy_types=["Egress"])
    assert not decide([deny_egress], "dev/client")
    assert decide([deny_egress], "dev/client", direction=INGRESS)


def test_invalid_selector_matches_nothing_and_is_reported() -> None:
    bad = policy("prod", "bad", ingress=[{"from": [{"podSelector": {"matchExpressions": [
        {"key": "app", "operator": "Equals", "values": ["client"]}]}}]}])
    assert not decide([bad], "prod/client")
    snapshot = build_snapshot([*WORLD, bad])
    evaluator = Evaluator(snapshot)
    result = evaluator.explain_direction(INGRESS, pod_endpoint(snapshot.pod("prod", "server") or {}),
                                         pod_endpoint(snapshot.pod("prod", "client") or {}), Traffic(8080))
    assert "invalid" in result.policies[0].note


def test_own_node_is_always_allowed_other_nodes_by_address() -> None:
    node_a = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
              "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]}}
    node_b = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-b"},
              "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.3"}]}}
    deny = policy("prod", "deny")
    snapshot = build_snapshot([*WORLD, node_a, node_b, deny])
    evaluator = Evaluator(snapshot)
    server = pod_endpoint(snapshot.pod("prod", "server") or {})
    assert evaluator.decide(INGRESS, server, node_endpoint(snapshot, "node-a"), Traffic(8080))
    assert not evaluator.decide(INGRESS, server, node_endpoint(snapshot, "node-b"), Traffic(8080))
    by_address = policy("prod", "nodes", ingress=[{"from": [{"ipBlock": {"cidr": "172.18.0.0/24"}}]}])
    evaluator = Evaluator(build_snapshot([*WORLD, node_a, node_b, deny, by_address]))
    assert evaluator.decide(INGRESS, server, node_endpoint(snapshot, "node-b"), Traffic(8080))
    verdict = evaluator.verdict(node_endpoint(snapshot, "node-b"), server, Traffic(8080))
    assert verdict.egress is None and "host network" in verdict.notes[0]


def test_explanation_names_the_selector_that_failed() -> None:
    rule = policy("prod", "p", ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"team": "shop"}},
                                                   "podSelector": {"matchLabels": {"app": "server"}}}]}])
    snapshot = build_snapshot([*WORLD, rule])
    evaluator = Evaluator(snapshot)
    result = evaluator.explain_direction(INGRESS, pod_endpoint(snapshot.pod("prod", "server") or {}),
                                         pod_endpoint(snapshot.pod("dev", "client") or {}), Traffic(8080))
    assert not result.allowed
    summary = result.summary()
    assert "namespace dev matches namespaceSelector team=shop" in summary
    assert "wants app=server, has app=client" in summary
    assert "(AND)" in summary
    assert result.suggestion is not None and "kubernetes.io/metadata.name: dev" in result.suggestion.yaml
