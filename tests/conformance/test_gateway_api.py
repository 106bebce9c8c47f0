"""The Gateway API conformance cases (gateway_api.yaml), each checked against svcdoctor.

For every case: from the objects alone, svcdoctor's own reading of the specification must give
the Accepted and ResolvedRefs conditions, the listeners each route attaches to and the supported
kinds the Go test requires; and ``check`` of each Service the case names must fire SD214 on exactly
the routes and reasons recorded (or stay silent). Then the same objects with the status a conforming
controller writes, served by the test API server and read live with the real ``kubernetes`` client:
the status conditions are read back as written, and ``check`` gives the same SD214 outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from svcdoctor import gateway, k8s
from svcdoctor.snapshot import Snapshot, build_snapshot
from tests.conformance.gateway_cluster import Case, Catalog, attached_counts, build, load
from tests.conftest import run_cli

CATALOG = load()


def test_the_catalog_records_release_commit_and_every_case_asked_for() -> None:
    assert CATALOG.upstream["repository"] == "kubernetes-sigs/gateway-api"
    assert CATALOG.upstream["release"] == "v1.6.1" and len(CATALOG.upstream["commit"]) == 40
    named = {case.test for case in CATALOG.cases}
    assert {"HTTPRouteCrossNamespace", "HTTPRouteDisallowedKind", "HTTPRouteHostnameIntersection",
            "HTTPRouteInvalidBackendRefUnknownKind", "HTTPRouteInvalidCrossNamespaceBackendRef",
            "HTTPRouteInvalidCrossNamespaceParentRef", "HTTPRouteInvalidNonExistentBackendRef",
            "HTTPRouteInvalidParentRefNotMatchingListenerPort", "HTTPRouteInvalidParentRefNotMatchingSectionName",
            "HTTPRouteInvalidParentRefSectionNameNotMatchingPort", "HTTPRouteInvalidReferenceGrant",
            "HTTPRouteListenerHostnameMatching", "HTTPRoutePartiallyInvalidViaInvalidReferenceGrant",
            "HTTPRouteReferenceGrant", "GatewayWithAttachedRoutes"} <= named
    for case in CATALOG.cases:
        assert case.file.startswith("conformance/tests/") and case.asserts, case.id


def _cases() -> list[Any]:
    return [pytest.param(case, id=case.id) for case in CATALOG.cases]


def _route(snapshot: Snapshot, catalog: Catalog, key: str) -> dict[str, Any]:
    kind, _, where = catalog.object_name(key).partition(" ")
    namespace, name = where.split("/")
    found = snapshot.get(kind, namespace, name)
    assert found is not None, key
    return found


def _sd214(catalog: Catalog, case: Case, *source: str) -> dict[str, dict[str, list[str]]]:
    """What ``check`` says for each Service the case names: {route: sorted SD214 reasons}."""
    outcome = {}
    for service in case.data.get("sd214") or {}:
        namespace, name = catalog.full(service).split("/")
        report = run_cli("check", name, "-n", namespace, *source, "-o", "json").json()
        assert report["exitCode"] in (0, 1, 3), report
        routes: dict[str, list[str]] = {}
        for finding in report["findings"]:
            if finding["id"] == "SD214":
                for evidence in finding["evidence"]:
                    routes.setdefault(evidence["object"], []).append(evidence["value"])
        outcome[service] = {route: sorted(set(reasons)) for route, reasons in routes.items()}
    return outcome


def _expected_sd214(catalog: Catalog, case: Case) -> dict[str, dict[str, list[str]]]:
    return {service: {catalog.object_name(route): sorted(reasons) for route, reasons in (routes or {}).items()}
            for service, routes in (case.data.get("sd214") or {}).items()}


@pytest.mark.parametrize("case", _cases())
def test_svcdoctor_evaluation_of_the_spec_agrees(case: Case, tmp_path: Path) -> None:
    objects = build(CATALOG, case, with_status=False)
    snapshot = build_snapshot(objects)
    counts: dict[str, dict[str, int]] = {}
    for key, expected in (case.data.get("routes") or {}).items():
        route = _route(snapshot, CATALOG, key)
        _problems, attachments = gateway.parent_problems(snapshot, route)
        for parent, outcome in (expected.get("accepted") or {}).items():
            namespace, name = CATALOG.full(parent).split("/")
            status, reason = gateway.accepted(snapshot, route, namespace, name)
            if isinstance(outcome, list):
                assert (status, reason) == (True, "Accepted"), (key, parent, reason)
                listeners = [listener for attachment in attachments if attachment.gateway == f"{namespace}/{name}"
                             for listener in attachment.listeners]
                assert sorted(listeners) == sorted(outcome), (key, parent)
                for listener in listeners:
                    counts.setdefault(parent, {}).setdefault(listener, 0)
                    counts[parent][listener] += 1
            else:
                assert (status, reason) == (False, outcome), (key, parent)
        resolved, reason, _message = gateway.resolved_refs(snapshot, route)
        if expected.get("resolved") is not None:
            assert (resolved if expected["resolved"] is True else reason) == expected["resolved"], key
    for parent, listeners in (case.data.get("listeners") or {}).items():
        for listener, count in listeners.items():
            assert counts.get(parent, {}).get(listener, 0) == count, (parent, listener)
            assert attached_counts(CATALOG, case, parent).get(listener, 0) == count, "the case's data disagree"
    for parent, listeners in (case.data.get("kinds") or {}).items():
        namespace, name = CATALOG.full(parent).split("/")
        found = snapshot.get("Gateway", namespace, name)
        assert found is not None
        for item in k8s.as_list(k8s.spec(found).get("listeners")):
            if item["name"] in listeners:
                assert list(gateway.supported_kinds(item)) == listeners[item["name"]], (parent, item["name"])
    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    assert _sd214(CATALOG, case, "--snapshot", str(path)) == _expected_sd214(CATALOG, case)


@pytest.mark.parametrize("case", _cases())
def test_the_status_an_implementation_writes_is_read_live_and_agrees(case: Case, tmp_path: Path) -> None:
    from svcdoctor.serve.apiserver import SnapshotAPIServer

    objects = build(CATALOG, case, with_status=True)
    snapshot = build_snapshot(objects)
    for key, expected in (case.data.get("routes") or {}).items():
        route = _route(snapshot, CATALOG, key)
        reported = sorted((p.condition, p.reason) for p in gateway.status_problems(route))
        wanted = []
        route_namespace = key.split()[1].split("/")[0]
        outcomes = expected.get("accepted") or {}
        for parent in expected["parents"]:
            accepted = outcomes.get(f"{parent.get('namespace') or route_namespace}/{parent['name']}")
            wanted += [] if accepted is None or isinstance(accepted, list) else [("Accepted", accepted)]
            wanted += [] if expected.get("resolved") in (True, None) else [("ResolvedRefs", expected["resolved"])]
        assert reported == sorted(wanted), key
    if not case.data.get("sd214"):
        return
    with SnapshotAPIServer(objects) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
        assert _sd214(CATALOG, case, "--kubeconfig", config) == _expected_sd214(CATALOG, case)


@pytest.mark.parametrize("served", [
    pytest.param({"tlsroutes": ("v1",), "tcproutes": ("v1",), "udproutes": ("v1",)}, id="v1.6-standard-channel"),
    pytest.param({"tlsroutes": ("v1alpha2",), "tcproutes": ("v1alpha2",), "udproutes": ("v1alpha2",)},
                 id="before-v1.6"),
])
def test_tls_tcp_and_udp_routes_are_read_live_whichever_version_the_crd_serves(
        served: dict[str, tuple[str, ...]], tmp_path: Path) -> None:
    """gateway-api v1.6's standard channel serves TLS/TCP/UDPRoute at v1 only; older CRDs at v1alpha2."""
    from svcdoctor.serve.apiserver import ServerOptions, SnapshotAPIServer

    for test in ("TLSRouteInvalidNoMatchingListener", "TCPRouteInvalidCrossNamespaceBackendRef",
                 "UDPRouteNotAllowedByListeners"):
        case = next(c for c in CATALOG.cases if c.test == test)
        with SnapshotAPIServer(build(CATALOG, case, with_status=False),
                               options=ServerOptions(served_versions=dict(served))) as api:
            config = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
            assert _sd214(CATALOG, case, "--kubeconfig", config) == _expected_sd214(CATALOG, case), test
