"""The network-policy-api conformance suite, replayed against svcdoctor's policy stack.

Upstream's conformance tests (``conformance/tests/*.go`` of kubernetes-sigs/network-policy-api) run
against a live cluster: they apply ``base/manifests.yaml`` (five namespaces, four StatefulSets of two
Pods), one policy manifest per test, then patch the policies (swap rules, change an action or the
priority, delete a NetworkPolicy) and "poke" servers from clients, asserting success or failure.

This module reads those Go files as they are (copied verbatim under ``tests/data/network-policy-api/
<release>/``) and replays them: the Pods are built from the StatefulSets the way the StatefulSet
controller names and labels them, the Go statements that change policies are interpreted (the few
forms the suite uses), and every ``PokeServer`` becomes a question to
:class:`~svcdoctor.netpol.tiers.PolicyStack`. A statement outside those forms (a rule literal
built in Go, e.g. a CIDR made from a live Pod IP) stops that test's replay from that point on: its
remaining pokes are listed as not translated, never guessed.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from svcdoctor import k8s
from svcdoctor.netpol.evaluator import pod_endpoint
from svcdoctor.netpol.interface import Traffic
from svcdoctor.netpol.tiers import PolicyStack
from svcdoctor.snapshot import build_snapshot
from svcdoctor.testing.cluster import ClusterBuilder

DATA = Path(__file__).resolve().parent.parent / "data" / "network-policy-api"
RELEASES = ("v0.1.7", "v0.2.0")

_STATEMENT = re.compile(
    r"ShortName:\s*\"(?P<short>\w+)\""
    r"|Manifests:\s*\[\]string\{\"(?P<manifest>[^\"]+)\"\}"
    r"|t\.Run\(\"(?P<subtest>[^\"]+)\""
    r"|Get\(ctx, client\.ObjectKey\{\s*Namespace:\s*\"(?P<get_ns>[^\"]+)\",\s*Name:\s*\"(?P<get_ns_name>[^\"]+)\",?"
    r"\s*\},\s*(?P<get_ns_var>\w+)\)"
    r"|Get\(ctx, client\.ObjectKey\{\s*Name:\s*\"(?P<get_name>[^\"]+)\",?\s*\},\s*(?P<get_var>\w+)\)"
    r"|(?P<helper_var>\w+) :?= kubernetes\.Get(?P<helper_kind>\w+)\(t, s\.Client, (?:\"(?P<helper_ns>[^\"]+)\", )?"
    r"\"(?P<helper_name>[^\"]+)\""
    r"|mutate := (?P<copy>\w+)\.DeepCopy\(\)"
    r"|(?P<hold>\w+) := mutate(?:\.DeepCopy\(\))?\.Spec\.(?P<hold_dir>Ingress|Egress)\[(?P<hold_index>\d+)\]"
    r"|mutate\.Spec\.(?P<move_dir>Ingress|Egress)\[(?P<move_to>\d+)\] = "
    r"mutate\.Spec\.(?P<move_from_dir>Ingress|Egress)\[(?P<move_from>\d+)\]"
    r"|mutate\.Spec\.(?P<action_dir>Ingress|Egress)\[(?P<action_index>\d+)\]\.Action = "
    r"\w+\.\w+RuleAction(?P<action>\w+)"
    r"|mutate\.Spec\.(?P<put_dir>Ingress|Egress)\[(?P<put_index>\d+)\] = (?P<put_var>\w+)\s*\n"
    r"|mutate\.Spec\.Priority = (?P<priority>\d+)"
    r"|(?P<unsupported>mutate\.Spec\.\w+ = append\()"
    r"|(?P<patch>Patch\(ctx, mutate|PatchClusterNetworkPolicy\(t, s\.Client, \w+, mutate)"
    r"|s\.Client\.Delete\(ctx, (?P<delete>\w+)\)|kubernetes\.Delete\w*\(t, s\.Client, (?P<delete_helper>\w+)"
    r"|PokeServer\(t, s\.ClientSet, &s\.KubeConfig, \"(?P<client_ns>[^\"]+)\", \"(?P<client>[^\"]+)\", "
    r"\"(?P<protocol>\w+)\",\s*(?P<server>\w+)\.Status\.PodIP, int32\((?P<port>\d+)\), "
    r"s\.TimeoutConfig(?:\.RequestTimeout)?, (?P<expected>true|false)\)"
)


@dataclass(frozen=True)
class Poke:
    """One connection a conformance test checks, and what it expects."""

    release: str
    test: str
    subtest: str
    client: str
    server: str
    protocol: str
    port: int
    expected: bool
    #: svcdoctor's answer (None when the test's replay stopped before this poke).
    answer: bool | None


@dataclass
class Replay:
    release: str
    pokes: list[Poke] = field(default_factory=list)
    #: ``test: reason`` for each test whose replay stopped early.
    stopped: dict[str, str] = field(default_factory=dict)


#: v0.2.0's manifests are a Go template: the suite fills in free host ports for its host-network
#: StatefulSet, which the standard tests replayed here never poke.
_HOST_PORT = re.compile(r"\{\{ index \.HostNetworkPorts (\d+) \}\}")


def _load(path: Path) -> list[dict[str, Any]]:
    text = _HOST_PORT.sub(lambda match: str(34340 + int(match.group(1))), path.read_text())
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def base_objects(release: str) -> list[dict[str, Any]]:
    """Namespaces and the Pods the StatefulSets of ``base/manifests.yaml`` make (two each)."""
    builder = ClusterBuilder(pod_cidr="10.244.0.0/16")
    builder.node("kind-worker", "172.18.0.2")
    builder.node("kind-worker2", "172.18.0.3")
    for document in _load(DATA / release / "base" / "manifests.yaml"):
        kind = document.get("kind")
        if kind == "Namespace":
            builder.namespace(k8s.name(document), dict(k8s.labels(document)))
        elif kind == "StatefulSet":
            spec = k8s.spec(document)
            template = k8s.as_map(spec.get("template"))
            containers = [dict(c) for c in k8s.as_list(k8s.as_map(template.get("spec")).get("containers"))]
            builder.stateful_set(k8s.namespace(document), k8s.name(document),
                                 dict(k8s.labels(template)), containers,
                                 service_name=k8s.name(document), replicas=int(spec.get("replicas") or 1))
    return builder.build()


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return (str(obj.get("kind")), k8s.namespace(obj), k8s.name(obj))


def replay(release: str) -> Replay:
    """Every poke of every test of ``release``, with svcdoctor's answer."""
    result = Replay(release)
    base = base_objects(release)
    for path in sorted((DATA / release / "tests").glob("*.go")):
        _replay_file(path.read_text(), release, base, result)
    return result


def _replay_file(text: str, release: str, base: list[dict[str, Any]], result: Replay) -> None:
    test = subtest = ""
    state: dict[tuple[str, str, str], dict[str, Any]] = {}
    bound: dict[str, tuple[str, str, str]] = {}
    pods: dict[str, tuple[str, str]] = {}
    working: dict[str, Any] | None = None
    working_key: tuple[str, str, str] | None = None
    held: dict[str, Any] = {}
    stopped = False
    stack: PolicyStack | None = None
    for match in _STATEMENT.finditer(text):
        group = match.groupdict()
        if group["short"]:
            test = group["short"]
        elif group["manifest"]:
            for document in _load(DATA / release / group["manifest"]):
                document.setdefault("metadata", {})
                state[_key(document)] = document
        elif group["subtest"]:
            subtest = group["subtest"]
        elif group["get_ns_var"]:
            namespace, name, variable = group["get_ns"], group["get_ns_name"], group["get_ns_var"]
            policy_key = next((k for k in state if k[1:] == (namespace, name)), None)
            if policy_key is not None:
                bound[variable] = policy_key
            else:
                pods[variable] = (namespace, name)
        elif group["get_var"]:
            key = next((k for k in state if k[1] == "" and k[2] == group["get_name"]), None)
            if key is not None:
                bound[group["get_var"]] = key
        elif group["helper_var"]:
            if group["helper_kind"] == "Pod":
                pods[group["helper_var"]] = (group["helper_ns"] or "", group["helper_name"])
            else:
                wanted = (group["helper_ns"] or "", group["helper_name"])
                key = next((k for k in state if k[1:] == wanted), None)
                if key is not None:
                    bound[group["helper_var"]] = key
        elif group["copy"]:
            working_key = bound.get(group["copy"])
            working = copy.deepcopy(state[working_key]) if working_key in state else None
        elif group["hold"] and working is not None:
            rules = working["spec"][group["hold_dir"].lower()]
            held[group["hold"]] = copy.deepcopy(rules[int(group["hold_index"])])
        elif group["move_dir"] and working is not None:
            rules = working["spec"][group["move_dir"].lower()]
            source = working["spec"][group["move_from_dir"].lower()]
            rules[int(group["move_to"])] = copy.deepcopy(source[int(group["move_from"])])
        elif group["action_dir"] and working is not None:
            rule = working["spec"][group["action_dir"].lower()][int(group["action_index"])]
            rule["action"] = group["action"]
        elif group["put_dir"] and working is not None and group["put_var"] in held:
            working["spec"][group["put_dir"].lower()][int(group["put_index"])] = copy.deepcopy(held[group["put_var"]])
        elif group["priority"] and working is not None:
            working["spec"]["priority"] = int(group["priority"])
        elif group["unsupported"]:
            stopped = True
            result.stopped[test] = f"from {subtest!r}: a rule literal built in Go ({group['unsupported']}…)"
        elif group["patch"] and working is not None and working_key is not None and not stopped:
            state[working_key] = working
            stack = None
        elif group["delete"] or group["delete_helper"]:
            state.pop(bound.get(group["delete"] or group["delete_helper"], ("", "", "")), None)
            stack = None
        elif group["client"]:
            server = pods.get(group["server"])
            answer: bool | None = None
            if not stopped and server is not None:
                if stack is None:
                    stack = PolicyStack(build_snapshot([*base, *state.values()]))
                snapshot = stack.snapshot
                source = snapshot.pod(group["client_ns"], group["client"])
                destination = snapshot.pod(*server)
                assert source is not None and destination is not None, (group["client"], server)
                answer = stack.allowed(pod_endpoint(source), pod_endpoint(destination),
                                       Traffic(int(group["port"]), group["protocol"].upper()))
            result.pokes.append(Poke(release, test, subtest, f"{group['client_ns']}/{group['client']}",
                                     "/".join(server) if server else group["server"], group["protocol"].upper(),
                                     int(group["port"]), group["expected"] == "true", answer))
