"""The Gateway API conformance tests about route attachment and references, replayed statically.

Upstream's tests (``conformance/tests/*.go`` of kubernetes-sigs/gateway-api) apply
``base/manifests.yaml`` and one manifest per test to a live cluster, then wait for the
implementation to write route conditions and assert them (``Accepted``, ``ResolvedRefs`` with
their reasons). This module reads the Go files as they are (copied verbatim under
``tests/data/gateway-api/<release>/``), extracts each asserted condition — the route, the parent
Gateway, the condition type, status and reason — and asks :mod:`svcdoctor.gateway` what the
specification makes an implementation report for the same objects (which carry no status here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from svcdoctor.gateway import accepted, resolved_refs
from svcdoctor.snapshot import Snapshot, build_snapshot

DATA = Path(__file__).resolve().parent / "data" / "gateway-api"
RELEASE = "v1.6.1"
NAMESPACES = {"InfrastructureNamespace": "gateway-conformance-infra",
              "WebBackendNamespace": "gateway-conformance-web-backend",
              "AppBackendNamespace": "gateway-conformance-app-backend"}

_NAMESPACE_VAR = re.compile(r"(\w+) :?= (?:confsuite|suite)\.(\w+Namespace)\b")
_NAME = re.compile(r"(\w+) :?= types\.NamespacedName\{(?:Name: \"([^\"]+)\", Namespace: ([\w.]+)|"
                   r"Namespace: ([\w.]+), Name: \"([^\"]+)\")\}")
_LIST = re.compile(r"(\w+) := \[\]types\.NamespacedName\{(.*?)\n\t*\}", re.S)
_ITEM = re.compile(r"\{(?:Namespace: ([\w.]+), Name: \"([^\"]+)\"|Name: \"([^\"]+)\", Namespace: ([\w.]+))\}")
_ACCEPTED = re.compile(r"GatewayAndHTTPRoutesMustBeAccepted\([^\n]*NewGatewayRef\((\w+)[^)]*\)((?:, [\w.]+)*)\)")
_RESOLVED = re.compile(r"HTTPRouteMustHaveResolvedRefsConditionsTrue\([^\n]*, (\w+), (\w+)\)")
_LOOP = re.compile(r"for _, (\w+) := range (\w+) \{")
_CONDITION_CALL = re.compile(r"HTTPRouteMustHave(?:Condition|Parents)\([^\n]*?, (\w+), (\w+)")
_CONDITION = re.compile(r"Type:\s*string\(v1\.RouteCondition(\w+)\),\s*Status:\s*metav1\.Condition(\w+),\s*"
                        r"Reason:\s*string\(v1\.RouteReason(\w+)\)")


@dataclass(frozen=True)
class Expectation:
    test: str
    route: tuple[str, str]
    gateway: tuple[str, str]
    condition: str
    status: bool
    reason: str


def _namespace(expression: str, variables: dict[str, str]) -> str:
    if expression in variables:
        return variables[expression]
    return NAMESPACES.get(expression.rsplit(".", 1)[-1], expression.strip('"'))


def expectations(path: Path) -> list[Expectation]:
    """Every route condition one Go test asserts, in the order it asserts them."""
    text = path.read_text()
    test = path.stem
    variables: dict[str, str] = {}
    names: dict[str, tuple[str, str]] = {}
    lists: dict[str, list[tuple[str, str]]] = {}
    loops: dict[str, str] = {}
    found: list[Expectation] = []
    events = sorted([(m.start(), "ns", m) for m in _NAMESPACE_VAR.finditer(text)]
                    + [(m.start(), "name", m) for m in _NAME.finditer(text)]
                    + [(m.start(), "list", m) for m in _LIST.finditer(text)]
                    + [(m.start(), "loop", m) for m in _LOOP.finditer(text)]
                    + [(m.start(), "accepted", m) for m in _ACCEPTED.finditer(text)]
                    + [(m.start(), "resolved", m) for m in _RESOLVED.finditer(text)]
                    + [(m.start(), "condition", m) for m in _CONDITION_CALL.finditer(text)],
                    key=lambda event: event[0])
    for position, what, match in events:
        if what == "ns":
            variables[match.group(1)] = NAMESPACES[match.group(2)]
        elif what == "name":
            if match.group(2):
                names[match.group(1)] = (_namespace(match.group(3), variables), match.group(2))
            else:
                names[match.group(1)] = (_namespace(match.group(4), variables), match.group(5))
        elif what == "list":
            lists[match.group(1)] = [
                (_namespace(item.group(1), variables), item.group(2)) if item.group(2)
                else (_namespace(item.group(4), variables), item.group(3)) for item in _ITEM.finditer(match.group(2))]
        elif what == "loop":
            loops[match.group(1)] = match.group(2)
        elif what == "accepted":
            gateway = names[match.group(1)]
            for token in (t.strip() for t in match.group(2).split(",") if t.strip()):
                for route in lists.get(token.removesuffix("..."), []) if token.endswith("...") else [names[token]]:
                    found.append(Expectation(test, route, gateway, "Accepted", True, "Accepted"))
        elif what == "resolved":
            variable = match.group(1)
            routes = lists[loops[variable]] if variable in loops and variable not in names else [names[variable]]
            for route in routes:
                found.append(Expectation(test, route, names[match.group(2)], "ResolvedRefs", True, "ResolvedRefs"))
        else:
            window = text[max(0, position - 900):position + 400]
            conditions = list(_CONDITION.finditer(window))
            if not conditions:
                continue
            nearest = min(conditions, key=lambda c: abs(c.start() - min(900, position)))
            gateway = names.get(match.group(2)) or next(value for key, value in reversed(names.items())
                                                        if key.startswith("gw"))
            found.append(Expectation(test, names[match.group(1)], gateway, nearest.group(1),
                                     nearest.group(2) == "True", nearest.group(3)))
    return found


def snapshot_for(path: Path) -> Snapshot:
    documents: list[dict[str, Any]] = []
    for source in (DATA / RELEASE / "base" / "manifests.yaml", path.with_suffix(".yaml")):
        documents += [d for d in yaml.safe_load_all(source.read_text()) if isinstance(d, dict)]
    return build_snapshot(documents)


def predict(snapshot: Snapshot, expectation: Expectation) -> tuple[bool, str]:
    route = next((r for kind in ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")
                  if (r := snapshot.get(kind, *expectation.route)) is not None), None)
    assert route is not None, expectation.route
    if expectation.condition == "ResolvedRefs":
        status, reason, _message = resolved_refs(snapshot, route)
        return status, reason
    return accepted(snapshot, route, *expectation.gateway)


def cases() -> list[Path]:
    return sorted((DATA / RELEASE / "tests").glob("*.go"))
