"""Property tests of the evaluator's laws over random small clusters (hypothesis)."""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from svcdoctor.netpol.evaluator import Evaluator, ip_endpoint, pod_endpoint
from svcdoctor.netpol.interface import EGRESS, INGRESS, Traffic
from svcdoctor.netpol.model import compile_policy
from svcdoctor.snapshot import build_snapshot
from tests.netpol import reference
from tests.netpol.worlds import label_selectors, peers, rules, traffic, worlds

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OUTSIDE = ("10.0.1.200", "192.0.2.7")


def pods_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "Pod"]


def every_pair(objects: list[dict[str, Any]]) -> list[tuple[Any, dict[str, Any]]]:
    pods = pods_of(objects)
    return [(source, destination) for source in [*pods, *OUTSIDE] for destination in pods]


def endpoint(source: Any) -> Any:
    return ip_endpoint(source) if isinstance(source, str) else pod_endpoint(source)


@SETTINGS
@given(worlds(), traffic)
def test_agrees_with_the_naive_reference(objects: list[dict[str, Any]], port_protocol: tuple[int, str]) -> None:
    port, protocol = port_protocol
    evaluator = Evaluator(build_snapshot(objects))
    for source, destination in every_pair(objects):
        expected = reference.allowed(objects, source, destination, port, protocol)
        got = evaluator.allowed(endpoint(source), pod_endpoint(destination), Traffic(port, protocol))
        assert got == expected, (source if isinstance(source, str) else source["metadata"], destination["metadata"])
        verdict = evaluator.verdict(endpoint(source), pod_endpoint(destination), Traffic(port, protocol))
        assert verdict.allowed == expected  # the explanation reaches the same decision


@SETTINGS
@given(worlds(), traffic, st.data())
def test_adding_an_allow_rule_never_removes_reachability(objects: list[dict[str, Any]],
                                                        port_protocol: tuple[int, str], data: Any) -> None:
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    if not policies:
        return
    policy = data.draw(st.sampled_from(policies))
    directions = sorted(compile_policy(policy).types)
    if not directions:
        return
    direction = data.draw(st.sampled_from(directions))
    new_rule = data.draw(rules("from" if direction == INGRESS else "to"))
    widened = copy.deepcopy(objects)
    target = next(o for o in widened if o["kind"] == "NetworkPolicy" and o["metadata"] == policy["metadata"])
    target["spec"].setdefault(direction, []).append(new_rule)
    target["spec"]["policyTypes"] = [d.capitalize() for d in directions]  # adding a rule must not add a type
    port, protocol = port_protocol
    before, after = Evaluator(build_snapshot(objects)), Evaluator(build_snapshot(widened))
    for source, destination in every_pair(objects):
        args = (endpoint(source), pod_endpoint(destination), Traffic(port, protocol))
        if before.allowed(*args):
            assert after.allowed(*args)


@SETTINGS
@given(worlds(), traffic)
def test_a_pod_no_policy_selects_is_reachable_from_everyone(objects: list[dict[str, Any]],
                                                           port_protocol: tuple[int, str]) -> None:
    port, protocol = port_protocol
    evaluator = Evaluator(build_snapshot(objects))
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    for destination in pods_of(objects):
        selected = any(p["metadata"]["namespace"] == destination["metadata"]["namespace"]
                       and reference.selector_matches(p["spec"]["podSelector"], destination["metadata"]["labels"])
                       for p in policies)
        if selected:
            continue
        for source in [*pods_of(objects), *OUTSIDE]:
            assert evaluator.decide(INGRESS, pod_endpoint(destination), endpoint(source), Traffic(port, protocol))


@SETTINGS
@given(worlds(), label_selectors(), label_selectors())
def test_one_peer_means_and_two_peers_mean_or(objects: list[dict[str, Any]], namespace_selector: dict[str, Any],
                                              pod_selector: dict[str, Any]) -> None:
    base = [o for o in objects if o["kind"] != "NetworkPolicy"]

    def policy(from_peers: list[dict[str, Any]]) -> dict[str, Any]:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"namespace": "n1", "name": "only"},
                "spec": {"podSelector": {}, "ingress": [{"from": from_peers}]}}

    both = Evaluator(build_snapshot([*base, policy([{"namespaceSelector": namespace_selector,
                                                     "podSelector": pod_selector}])]))
    either = Evaluator(build_snapshot([*base, policy([{"namespaceSelector": namespace_selector},
                                                      {"podSelector": pod_selector}])]))
    destinations = [p for p in pods_of(base) if p["metadata"]["namespace"] == "n1"]
    for destination in destinations:
        for source in pods_of(base):
            namespace = source["metadata"]["namespace"]
            in_namespaces = reference.selector_matches(namespace_selector,
                                                       reference.namespace_labels(base, namespace))
            pod_matches = reference.selector_matches(pod_selector, source["metadata"]["labels"])
            args = (pod_endpoint(destination), pod_endpoint(source), Traffic(8080, "TCP"))
            assert both.decide(INGRESS, *args) == (in_namespaces and pod_matches)
            assert either.decide(INGRESS, *args) == (in_namespaces or (namespace == "n1" and pod_matches))


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(8, 32), st.integers(0, 2**32 - 1), st.integers(8, 32),
       st.integers(0, 2**32 - 1))
def test_ip_block_with_except(cidr_base: int, prefix: int, except_base: int, except_prefix: int,
                              address: int) -> None:
    cidr = ipaddress.ip_network((cidr_base, prefix), strict=False)
    excluded = ipaddress.ip_network((except_base, except_prefix), strict=False)
    ip = ipaddress.ip_address(address)
    objects = [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"namespace": "n1", "name": "block"},
                "spec": {"podSelector": {}, "ingress": [{"from": [
                    {"ipBlock": {"cidr": str(cidr), "except": [str(excluded)]}}]}]}},
               {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "n1", "name": "server", "labels": {}},
                "spec": {"containers": []}, "status": {"podIP": "198.18.0.1"}}]
    evaluator = Evaluator(build_snapshot(objects))
    server = pod_endpoint(objects[1])
    expected = ip in cidr and ip not in excluded
    assert evaluator.decide(INGRESS, server, ip_endpoint(str(ip)), Traffic(80, "TCP")) == expected


def apply_suggestion(objects: list[dict[str, Any]], namespace: str, name: str, snippet: str) -> list[dict[str, Any]]:
    """Apply a suggestion's YAML the way its header comment says (replace rule N, or append)."""
    header = snippet.splitlines()[0]
    rule = yaml.safe_load("\n".join(snippet.splitlines()[1:]))[0]
    changed = copy.deepcopy(objects)
    policy = next(o for o in changed if o["kind"] == "NetworkPolicy"
                  and o["metadata"]["namespace"] == namespace and o["metadata"]["name"] == name)
    replace = re.search(r"spec\.(ingress|egress)\[(\d+)\] becomes", header)
    if replace:
        policy["spec"][replace.group(1)][int(replace.group(2))] = rule
    else:
        append = re.search(r"append to spec\.(ingress|egress)", header)
        assert append, header
        policy["spec"].setdefault(append.group(1), []).append(rule)
    return changed


@SETTINGS
@given(worlds(), traffic)
def test_the_smallest_change_does_allow_the_connection(objects: list[dict[str, Any]],
                                                      port_protocol: tuple[int, str]) -> None:
    port, protocol = port_protocol
    evaluator = Evaluator(build_snapshot(objects))
    for source, destination in every_pair(objects):
        for direction, subject, remote in ((INGRESS, pod_endpoint(destination), endpoint(source)),
                                           (EGRESS, endpoint(source), pod_endpoint(destination))):
            if subject.kind != "pod":
                continue
            result = evaluator.explain_direction(direction, subject, remote, Traffic(port, protocol))
            if result.allowed:
                continue
            suggestion = result.suggestion
            assert suggestion is not None
            changed = apply_suggestion(objects, suggestion.policy.namespace, suggestion.policy.name, suggestion.yaml)
            after = Evaluator(build_snapshot(changed))
            assert after.decide(direction, subject, remote, Traffic(port, protocol)), suggestion.yaml


@SETTINGS
@given(peers())
def test_every_generated_peer_compiles(peer: dict[str, Any]) -> None:
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"namespace": "n1", "name": "p"}, "spec": {"podSelector": {}, "ingress": [{"from": [peer]}]}}
    assert not compile_policy(policy).problems


@SETTINGS
@given(worlds(), traffic)
def test_grouping_alike_pods_loses_nothing(objects: list[dict[str, Any]], port_protocol: tuple[int, str]) -> None:
    from svcdoctor.netpol import matrix

    port, protocol = port_protocol
    snapshot = build_snapshot(objects)
    evaluator = Evaluator(snapshot)
    pods = pods_of(objects)
    spec = [matrix.PortSpec(port, protocol)]
    grouped = matrix.group_pods(evaluator, pods)
    single = matrix.group_pods(Evaluator(snapshot), pods, each_pod=True)
    by_group = matrix.build_matrix(evaluator, grouped, grouped, spec).ports[0].cells
    by_pod = matrix.build_matrix(Evaluator(snapshot), single, single, spec).ports[0].cells
    group_of = {pod: index for index, member in enumerate(grouped) for pod in member.pods}
    for row, source in enumerate(single):
        for column, destination in enumerate(single):
            assert by_pod[row][column] == by_group[group_of[source.id]][group_of[destination.id]]
