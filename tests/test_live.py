"""The live path: the real ``kubernetes`` client (and the real ``kubectl``) over real HTTP.

A read-only API server (svcdoctor.serve.apiserver) serves a cluster built with ClusterBuilder
on 127.0.0.1; svcdoctor reads it through a kubeconfig exactly as it reads a real cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from svcdoctor.serve.apiserver import ServerOptions, SnapshotAPIServer
from svcdoctor.testing.cluster import ClusterBuilder
from svcdoctor.testing.tls import self_signed_certificate
from tests.conftest import ROOT, run_cli

Obj = dict[str, Any]


def build_cluster(*, pods_relabelled: bool = False, frontend_replicas: int = 2) -> list[Obj]:
    """A small realistic cluster: shop/backend healthy (or relabelled away), DNS and kube-proxy."""
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("shop", {"team": "store"})
    b.namespace("kube-system")
    b.namespace("default")
    b.node("node-a", "172.18.0.2", zone="zone-a")
    b.node("node-b", "172.18.0.3", zone="zone-b")
    http = [{"name": "http", "containerPort": 8080}]
    b.deployment("shop", "frontend", {"app": "frontend"}, [b.container("frontend", "example/frontend:1.8", http)],
                 replicas=frontend_replicas)
    b.deployment("shop", "backend", {"app": "backend"}, [b.container("backend", "example/backend:2.0", http)],
                 replicas=2, template_labels={"app": "backend-v2"} if pods_relabelled else None)
    b.service("shop", "backend", {"app": "backend"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    b.service("shop", "frontend", {"app": "frontend"}, [{"name": "http", "port": 80, "targetPort": 8080}])
    dns = [{"name": "dns", "containerPort": 53, "protocol": "UDP"}, {"name": "dns-tcp", "containerPort": 53}]
    b.deployment("kube-system", "coredns", {"k8s-app": "kube-dns"}, [b.container("coredns", "coredns:1.11", dns)])
    b.service("kube-system", "kube-dns", {"k8s-app": "kube-dns"},
              [{"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
               {"name": "dns-tcp", "port": 53, "targetPort": 53}], labels={"k8s-app": "kube-dns"})
    for node in ("node-a", "node-b"):
        b.pod("kube-system", f"kube-proxy-{node[-1]}xq7z", {"k8s-app": "kube-proxy"},
              [b.container("kube-proxy", "registry.k8s.io/kube-proxy:v1.31.2")], node=node, host_network=True)
    b.add({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "backend-from-frontend", "namespace": "shop", "uid": "np-1",
                        "creationTimestamp": b.time(600)},
           "spec": {"podSelector": {"matchLabels": {"app": "backend"}}, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}],
                                 "ports": [{"port": 8080}]}]}})
    b.add({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-password", "namespace": "shop"},
           "data": {"password": "aHVudGVyMg=="}})
    b.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
           "data": {"Corefile": ".:53 {\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n"
                                "    forward . /etc/resolv.conf\n}\n"}})
    return b.build()


@pytest.fixture
def server() -> Iterator[SnapshotAPIServer]:
    with SnapshotAPIServer(build_cluster()) as api:
        yield api


@pytest.fixture
def kubeconfig(server: SnapshotAPIServer, tmp_path: Path) -> str:
    return server.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")


def live(kubeconfig: str, *args: str) -> Any:
    return run_cli(*args, "--kubeconfig", kubeconfig)


def _verb_and_plural(path: str) -> tuple[str, str]:
    """The RBAC verb and resource of a REST path: /api/v1/namespaces/shop/pods/x → (get, pods)."""
    parts = path.strip("/").split("/")
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    return ("get" if len(rest) == 2 else "list"), rest[0]


def paths(api: SnapshotAPIServer) -> list[str]:
    return [entry.path for entry in api.requests()]


# -- check, scan, record through the real client ------------------------------------------------


def test_check_reads_only_what_one_service_needs(server: SnapshotAPIServer, kubeconfig: str) -> None:
    result = live(kubeconfig, "check", "backend", "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["verdict"] == "ok"
    assert report["source"] == {"kind": "live", "context": "snapshot", "server": server.url}
    log = server.requests()
    assert {entry.verb for entry in log} == {"GET"}
    assert not any("secret" in entry.path for entry in log)
    # Round one: 13 reads in shop and cluster-wide, 13 in kube-system, flannel's ConfigMap in
    # kube-flannel, /version, and 13 of custom resources (4 policy tiers and 7 Gateway API kinds
    # cluster-wide, Cilium policies and ReferenceGrants in shop). Round two: the selected Pods and
    # the Pods the NetworkPolicy admits (app=frontend). Nothing else.
    assert len(log) == 43, [e.path for e in log]
    pod_reads = [e for e in log if e.path == "/api/v1/namespaces/shop/pods"]
    assert sorted(e.query.get("labelSelector", "") for e in pod_reads) == ["app=backend", "app=frontend"]
    assert not any(e.path == "/api/v1/pods" for e in log)
    slices = [e for e in log if e.path.endswith("/namespaces/shop/endpointslices")]
    assert slices[0].query["labelSelector"] == "kubernetes.io/service-name=backend"
    events = sorted(e.query.get("fieldSelector", "") for e in log if e.path.endswith("/events"))
    assert events == ["involvedObject.kind=Pod", "involvedObject.kind=Service,involvedObject.name=backend"]
    config_maps = sorted(e.path.split("/namespaces/", 1)[1] for e in log if "/configmaps" in e.path)
    assert config_maps == ["kube-flannel/configmaps/kube-flannel-cfg", *(
        f"kube-system/configmaps/{name}" for name in ("antrea-config", "cilium-config", "coredns", "coredns-coredns",
                                                     "kube-flannel-cfg", "kubelet-config",
                                                     "rke2-coredns-rke2-coredns"))]
    assert not any(e.path.endswith("/configmaps") for e in log)  # never listed


def test_custom_resources_not_installed_are_not_an_error(tmp_path: Path) -> None:
    """A 404 for a CRD's group (not installed) means none exist: no unknown step, no SD001."""
    groups = {"policy.networking.k8s.io", "cilium.io", "gateway.networking.k8s.io"}
    with SnapshotAPIServer(build_cluster(), options=ServerOptions(missing_groups=groups)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        result = live(config, "check", "backend", "-o", "json")
        assert result.exit_code == 0, result.stderr
        report = result.json()
        assert report["verdict"] == "ok"
        assert not [f for f in report["findings"] if f["id"] == "SD001"]
        assert any(e.status == 404 and "/apis/cilium.io/" in e.path for e in api.requests())


def test_check_uses_the_contexts_namespace_and_verbose_goes_to_stderr(server: SnapshotAPIServer,
                                                                      kubeconfig: str) -> None:
    result = live(kubeconfig, "check", "backend", "-o", "json", "--verbose")
    report = result.json()  # stdout is nothing but the JSON report
    assert report["target"] == {"namespace": "shop", "name": "backend"}
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("GET /api/v1/namespaces/shop/pods?limit=500&labelSelector=app=backend 200 ")
               for line in lines)
    assert lines[-1].startswith("svcdoctor: 43 API requests in ")
    assert sum(line.startswith("GET ") for line in lines) == 43


def test_near_misses_read_the_namespaces_pods_only_when_needed(tmp_path: Path) -> None:
    with SnapshotAPIServer(build_cluster(pods_relabelled=True)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        result = live(config, "check", "backend", "-o", "json")
        assert result.exit_code == 1
        report = result.json()
        assert [f["id"] for f in report["findings"]][:2] == ["SD301", "SD501"]
        assert "backend-v2" in report["findings"][0]["message"]
        log = api.requests()
        unfiltered = [e for e in log if e.path == "/api/v1/namespaces/shop/pods" and "labelSelector" not in e.query]
        assert len(unfiltered) == 1
        assert any(e.path == "/api/v1/pods" and e.query.get("labelSelector") == "app=backend" for e in log)
        assert len(log) == 45  # 32, and 13 reads of custom resources


def test_missing_service_looks_for_the_name_in_other_namespaces(server: SnapshotAPIServer, kubeconfig: str) -> None:
    result = live(kubeconfig, "check", "kube-dns", "-o", "json")
    report = result.json()
    assert report["findings"][0]["id"] == "SD101"
    assert "kube-system" in report["findings"][0]["message"]
    assert any(e.path == "/api/v1/services" and e.query.get("fieldSelector") == "metadata.name=kube-dns"
               for e in server.requests())


def test_scan_namespace_and_all(server: SnapshotAPIServer, kubeconfig: str) -> None:
    result = live(kubeconfig, "scan", "-o", "json")
    assert result.exit_code == 0, result.stderr
    def targets(output: str) -> set[str]:
        return {f"{r['target']['namespace']}/{r['target']['name']}" for r in json.loads(output)["reports"]}

    assert targets(result.stdout) == {"shop/backend", "shop/frontend"}
    everything = live(kubeconfig, "scan", "-A", "-o", "json")
    assert targets(everything.stdout) == {"shop/backend", "shop/frontend", "kube-system/kube-dns"}
    assert {e.verb for e in server.requests()} == {"GET"}
    assert not any("secret" in p for p in paths(server))


def _without_source(report: Obj) -> Obj:
    """The report without what says where and when it was read (the source, capturedAt, file positions)."""
    result = {key: value for key, value in report.items() if key not in ("source", "capturedAt")}
    result["findings"] = [{k: v for k, v in finding.items() if k != "location"} for finding in report["findings"]]
    return result


def test_record_then_replay_gives_the_same_report(tmp_path: Path) -> None:
    with SnapshotAPIServer(build_cluster(pods_relabelled=True)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        recorded = tmp_path / "shop.yaml"
        result = live(config, "record", "backend", "-o", str(recorded))
        assert result.exit_code == 0, result.stderr
        live_report = live(config, "check", "backend", "-o", "json").json()
    replay = run_cli("check", "backend", "-n", "shop", "--snapshot", str(recorded), "-o", "json").json()
    assert replay["source"]["kind"] == "snapshot"
    assert _without_source(replay) == _without_source(live_report)
    document = yaml.safe_load(recorded.read_text())
    kinds = [item["kind"] for item in document["items"]]
    assert kinds[0] == "SnapshotInfo" and "Secret" not in kinds
    info = document["items"][0]
    assert info["context"] == "snapshot" and info["serverVersion"] == "v1.31.2" and info["capturedAt"]
    assert all(item.get("apiVersion") for item in document["items"])


def test_record_scan_to_stdout_as_json(server: SnapshotAPIServer, kubeconfig: str) -> None:
    result = live(kubeconfig, "record", "-A", "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    names = {(i["kind"], i.get("metadata", {}).get("namespace", ""), i.get("metadata", {}).get("name"))
             for i in document["items"]}
    assert ("Service", "kube-system", "kube-dns") in names and ("Pod", "kube-system", "kube-proxy-axq7z") in names
    assert not any(kind == "Secret" for kind, _, _ in names)


def test_record_redacted_stays_diagnosable(tmp_path: Path) -> None:
    with SnapshotAPIServer(build_cluster(pods_relabelled=True)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        recorded = tmp_path / "shared.yaml"
        assert live(config, "record", "backend", "--redact", "-o", str(recorded)).exit_code == 0
    text = recorded.read_text()
    for secret_word in ("shop", "backend", "frontend", "172.18.0.2", "10.244.", "node-a", "store"):
        assert secret_word not in text, secret_word
    document = yaml.safe_load(text)
    services = [i for i in document["items"] if i["kind"] == "Service" and i["metadata"]["namespace"] != "kube-system"]
    namespace = services[0]["metadata"]["namespace"]
    target = next(s for s in services if s["spec"]["selector"] != {"app": "frontend"})
    report = run_cli("check", target["metadata"]["name"], "-n", namespace, "--snapshot", str(recorded),
                     "-o", "json").json()
    assert [f["id"] for f in report["findings"]][:2] == ["SD301", "SD501"]
    assert report["verdict"] == "unreachable"


# -- faults ---------------------------------------------------------------------------------------


def test_forbidden_network_policies_make_the_verdict_unknown(tmp_path: Path) -> None:
    with SnapshotAPIServer(build_cluster(), options=ServerOptions(forbid={"networkpolicies"})) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        result = live(config, "check", "backend", "-o", "json")
        assert result.exit_code == 4, result.stderr  # unknown: a CI gate must not go green while blind
        report = result.json()
        assert report["verdict"] == "unknown"
        sd001 = [f for f in report["findings"] if f["id"] == "SD001"]
        assert sd001 and "kubectl auth can-i list networkpolicies -n shop" in sd001[0]["next"]
        assert "forbidden" in sd001[0]["message"]
        assert any(e.status == 403 for e in api.requests())
        assert len(api.requests()) == 42  # the rest still ran (no policy peers to read)
        assert live(config, "check", "backend", "-o", "json", "--accept-unknown").exit_code == 0
        # record keeps the failed read, so the replay is just as honest.
        recorded = tmp_path / "forbidden.yaml"
        assert live(config, "record", "backend", "-o", str(recorded)).exit_code == 0
    replay = run_cli("check", "backend", "-n", "shop", "--snapshot", str(recorded), "-o", "json").json()
    assert replay["verdict"] == "unknown"


def _one_line_exit_3(result: Any) -> str:
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("svcdoctor: error: "), result.stderr
    return lines[0]


def test_unauthorized_is_exit_3(tmp_path: Path) -> None:
    with SnapshotAPIServer(build_cluster(), options=ServerOptions(token="right")) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop", token="wrong")
        line = _one_line_exit_3(live(config, "check", "backend"))
        assert "401 Unauthorized" in line
        good = api.write_kubeconfig(str(tmp_path / "good"), namespace="shop", token="right")
        assert live(good, "check", "backend").exit_code == 0


def _warm_client() -> None:
    """Import the kubernetes client before a timed run: the budget is for requests, not imports."""
    import kubernetes.client  # noqa: F401


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _plain_kubeconfig(tmp_path: Path, port: int) -> Path:
    """A kubeconfig for a plain-HTTP server on 127.0.0.1:``port``, without credentials."""
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "gone", "user": {}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}]}))
    return config


def test_closed_port_is_exit_3_within_the_timeout(tmp_path: Path) -> None:
    port = _free_port()
    config = _plain_kubeconfig(tmp_path, port)
    _warm_client()
    started = time.monotonic()
    line = _one_line_exit_3(live(str(config), "check", "backend", "--request-timeout", "2s"))
    assert time.monotonic() - started < 3
    assert "connection refused" in line and f"127.0.0.1:{port}" in line


def test_slow_server_is_exit_3_within_the_timeout(tmp_path: Path) -> None:
    with SnapshotAPIServer(build_cluster(), options=ServerOptions(latency=2.5)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        _warm_client()
        started = time.monotonic()
        line = _one_line_exit_3(live(config, "check", "backend", "--request-timeout", "500ms"))
        assert time.monotonic() - started < 1.5
        assert "did not answer within 0.5s" in line


def test_untrusted_certificate_is_exit_3(tmp_path: Path) -> None:
    require_openssl()
    cert, key = self_signed_certificate(str(tmp_path))
    with SnapshotAPIServer(build_cluster(), tls=(cert, key)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        _warm_client()
        started = time.monotonic()
        line = _one_line_exit_3(live(config, "check", "backend", "--request-timeout", "2s"))
        assert time.monotonic() - started < 3
        # svcdoctor's words and the server it could not trust; the reason after them is OpenSSL's text.
        assert f"TLS error talking to {api.url}" in line
        trusted = api.write_kubeconfig(str(tmp_path / "trusted"), namespace="shop", ca_file=cert)
        assert live(trusted, "check", "backend").exit_code == 0


def require_openssl() -> None:
    from tests.conftest import require

    require(shutil.which("openssl") is not None, "openssl is not installed")


def test_bad_flags_are_exit_2(kubeconfig: str, tmp_path: Path) -> None:
    assert live(kubeconfig, "check", "backend", "--context", "nope").exit_code == 2
    assert live(kubeconfig, "check", "backend", "--request-timeout", "soon").exit_code == 2
    missing = run_cli("check", "backend", "--kubeconfig", str(tmp_path / "absent"))
    assert missing.exit_code == 2 and "no such kubeconfig" in missing.stderr


def test_service_vanishing_mid_read(server: SnapshotAPIServer, kubeconfig: str) -> None:
    slices = json.loads(run_cli("record", "backend", "--kubeconfig", kubeconfig, "--format", "json").stdout)
    slice_names = [i["metadata"]["name"] for i in slices["items"] if i["kind"] == "EndpointSlice"
                   and i["metadata"]["namespace"] == "shop"]
    server.clear_log()

    def vanish(entry: Any) -> None:
        # The Service and its endpoints go away right after the first round listed them.
        if entry.path == "/api/v1/namespaces/shop/services" and len(server.hooks) == 1:
            server.hooks.clear()
            server.delete("Service", "shop", "backend")
            server.delete("Endpoints", "shop", "backend")
            for name in slice_names:
                server.delete("EndpointSlice", "shop", name)

    server.hooks.append(vanish)
    result = live(kubeconfig, "check", "backend", "-o", "json")
    assert result.exit_code in (0, 1), result.stderr
    assert result.json()["verdict"] in ("ok", "unreachable")
    again = live(kubeconfig, "check", "backend", "-o", "json").json()
    assert again["findings"][0]["id"] == "SD101"


def test_objects_with_missing_fields(tmp_path: Path) -> None:
    b = ClusterBuilder()
    b.namespace("odd")
    b.add({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bare", "namespace": "odd"},
           "spec": {"selector": {"app": "bare"}, "ports": [{"port": 80}]}})
    b.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare-1", "namespace": "odd",
                                                            "labels": {"app": "bare"}}})
    b.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare-2", "namespace": "odd",
                                                            "labels": {"app": "bare"}},
           "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}})
    b.add({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "bare-x", "namespace": "odd", "labels": {"kubernetes.io/service-name": "bare"}},
           "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.9"], "targetRef": None}]})
    b.add({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "bare", "namespace": "odd"},
           "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 80}]}]})
    b.add({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "namespace": "odd"},
           "involvedObject": {"kind": "Pod", "name": "bare-1"}})
    with SnapshotAPIServer(b.build(reconcile=False)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="odd")
        result = live(config, "check", "bare", "-o", "json")
        assert result.exit_code in (0, 1), result.stderr
        assert result.json()["verdict"] in ("ok", "unreachable", "degraded", "unknown")
        assert live(config, "scan", "-o", "json").exit_code in (0, 1)


def test_large_lists_are_paged(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from svcdoctor.sources import live as live_module

    monkeypatch.setattr(live_module, "PAGE_SIZE", 3)
    with SnapshotAPIServer(build_cluster(frontend_replicas=7)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        report = live(config, "check", "frontend", "-o", "json").json()
        assert report["verdict"] == "ok"
        pages = [e for e in api.requests() if e.path == "/api/v1/namespaces/shop/pods"]
        assert len(pages) == 3 and [e.query.get("limit") for e in pages] == ["3"] * 3
        assert sum("continue" in e.query for e in pages) == 2


def test_progress_never_writes_to_stdout(server: SnapshotAPIServer, kubeconfig: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The status line and --verbose lines share stderr: each request line erases the status, which comes back."""
    from svcdoctor.cli.progress import ERASE, TerminalProgress
    from svcdoctor.sources.interface import Request
    from svcdoctor.sources.live import LiveSource

    line = TerminalProgress(sys.stderr, delay=0, interval=0)
    source = LiveSource(kubeconfig=kubeconfig, progress=line, verbose=True)
    snapshot = source.load(Request(namespace="shop", service="backend"))
    line.close()
    assert snapshot.service("shop", "backend") is not None
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "API requests" in captured.err and "in flight" in captured.err and captured.err.endswith(ERASE)
    requests = [text for text in captured.err.split("\n") if "GET /" in text]
    before = [text.partition("GET /")[0] for text in requests]  # what is on the line when a request line starts
    assert requests and all(text.endswith(ERASE) or not text for text in before), before
    assert any(before)


def test_request_timeout_forms() -> None:
    from svcdoctor.errors import InputError
    from svcdoctor.sources.live import parse_duration

    assert parse_duration("10s") == 10
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1m") == 60
    assert parse_duration("1m30s") == 90
    assert parse_duration("3") == 3
    assert parse_duration("0") is None
    for bad in ("", "ten", "10x", "-1s", "s"):
        with pytest.raises(InputError):
            parse_duration(bad)


# -- the server itself, and kubectl as a second client ------------------------------------------


def _get(api: SnapshotAPIServer, path: str, method: str = "GET") -> tuple[int, Obj]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    connection.request(method, path)
    response = connection.getresponse()
    body = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, body


def test_server_rest_shape(server: SnapshotAPIServer) -> None:
    status, body = _get(server, "/api/v1/namespaces/shop/services/absent")
    assert status == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"
    assert body["message"] == 'services "absent" not found'
    status, body = _get(server, "/api/v1/namespaces/shop/pods", method="DELETE")
    assert status == 405 and body["reason"] == "MethodNotAllowed"
    assert _get(server, "/api/v1/secrets")[0] == 404
    status, body = _get(server, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a")
    assert status == 200 and body["items"] and all(p["spec"]["nodeName"] == "node-a" for p in body["items"])
    assert _get(server, "/api/v1/pods?fieldSelector=spec.bogus%3D1")[0] == 400
    status, body = _get(server, "/api/v1/pods?labelSelector=k8s-app%20in%20(kube-dns,kube-proxy)")
    assert status == 200 and len(body["items"]) == 4 and body["metadata"]["resourceVersion"]
    status, body = _get(server, "/apis/apps/v1")
    assert {r["name"] for r in body["resources"]} == {"deployments", "replicasets", "statefulsets", "daemonsets"}
    assert all(r["verbs"] == ["get", "list", "watch"] for r in body["resources"])
    assert {e.verb for e in server.requests()} == {"GET", "DELETE"}


def _kubectl(config: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": config, "HOME": str(home)}
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, timeout=60)


def test_kubectl_reads_the_server(server: SnapshotAPIServer, kubeconfig: str, tmp_path: Path) -> None:
    from tests.conftest import require

    require(shutil.which("kubectl") is not None, "kubectl is not on PATH")
    listed = _kubectl(kubeconfig, tmp_path, "get", "svc,pods,endpointslices", "-n", "shop", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    kinds = sorted({item["kind"] for item in json.loads(listed.stdout)["items"]})
    assert kinds == ["EndpointSlice", "Pod", "Service"]
    described = _kubectl(kubeconfig, tmp_path, "describe", "svc", "backend", "-n", "shop")
    assert described.returncode == 0, described.stderr
    assert "Selector:" in described.stdout and "app=backend" in described.stdout
    short = _kubectl(kubeconfig, tmp_path, "get", "deploy,rs,netpol,ing,ep", "-n", "shop")
    assert short.returncode == 0 and "deployment.apps/backend" in short.stdout, short.stderr
    discovery = {e.path for e in server.requests()}
    assert {"/api", "/apis", "/api/v1", "/apis/apps/v1", "/apis/discovery.k8s.io/v1"} <= discovery
    assert {e.verb for e in server.requests()} == {"GET"}


def test_kubectl_plugin(server: SnapshotAPIServer, kubeconfig: str, tmp_path: Path) -> None:
    from tests.conftest import require

    require(shutil.which("kubectl") is not None, "kubectl is not on PATH")
    plugin_dir = tmp_path / "bin"
    plugin_dir.mkdir()
    plugin = plugin_dir / "kubectl-svcdoctor"
    plugin.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                      "from svcdoctor.cli import kubectl_main\nkubectl_main()\n")
    plugin.chmod(0o755)
    env = {**os.environ, "PATH": f"{plugin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}
    result = subprocess.run(["kubectl", "svcdoctor", "check", "backend", "-n", "shop", "--kubeconfig", kubeconfig,
                             "--request-timeout", "5s", "-o", "json"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verdict"] == "ok"
    usage = subprocess.run(["kubectl", "svcdoctor", "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert "kubectl svcdoctor" in usage.stdout


def _a_pod(kubeconfig: str) -> str:
    recorded = json.loads(run_cli("record", "backend", "--kubeconfig", kubeconfig, "--format", "json").stdout)
    return next(i["metadata"]["name"] for i in recorded["items"] if i["kind"] == "Pod"
                and i["metadata"]["namespace"] == "shop")


# -- shipped files ---------------------------------------------------------------------------------


def test_rbac_grants_exactly_what_svcdoctor_reads(server: SnapshotAPIServer, kubeconfig: str) -> None:
    from svcdoctor.kinds import BY_PLURAL, READ_BY_SVCDOCTOR
    from svcdoctor.sources.live import FLANNEL_CONFIG_MAP, SYSTEM_CONFIG_MAPS

    documents = list(yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()))
    kinds = {d["kind"]: d for d in documents}
    assert set(kinds) == {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    assert kinds["ServiceAccount"]["metadata"] == {"name": "svcdoctor", "namespace": "svcdoctor"}
    assert kinds["Role"]["metadata"]["namespace"] == "kube-system"
    for binding in ("ClusterRoleBinding", "RoleBinding"):
        assert kinds[binding]["subjects"] == [{"kind": "ServiceAccount", "name": "svcdoctor",
                                               "namespace": "svcdoctor"}]
    granted: set[tuple[str, str]] = set()
    named = {"ClusterRole": (FLANNEL_CONFIG_MAP[1],), "Role": SYSTEM_CONFIG_MAPS}
    for kind, rule in [(role, rule) for role in ("ClusterRole", "Role") for rule in kinds[role]["rules"]]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
        if "configmaps" in rule["resources"]:
            assert tuple(rule["resourceNames"]) == named[kind] and rule["verbs"] == ["get"]
        for resource in rule["resources"]:
            assert BY_PLURAL[resource].group in rule["apiGroups"]
            granted |= {(verb, resource) for verb in rule["verbs"]}
    assert {resource for _, resource in granted} == set(READ_BY_SVCDOCTOR) and "secrets" not in str(granted)
    live(kubeconfig, "check", "backend")
    live(kubeconfig, "check", "frontend", "--from", "shop/" + _a_pod(kubeconfig))
    live(kubeconfig, "check", "missing")
    live(kubeconfig, "scan", "-A")
    used = {_verb_and_plural(e.path) for e in server.requests() if e.path != "/version"}
    assert used == granted, (used ^ granted)
    krew = yaml.safe_load((ROOT / "plugins" / "svcdoctor.yaml").read_text())
    assert krew["kind"] == "Plugin" and krew["metadata"]["name"] == "svcdoctor"


def test_in_cluster_config_keeps_stdout_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a Pod (no kubeconfig, KUBERNETES_SERVICE_HOST set) the service account is used, silently."""
    require_openssl()
    from kubernetes.config import incluster_config

    from svcdoctor.sources import live as live_module

    cert, key = self_signed_certificate(str(tmp_path))
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("pod-token")
    (account / "namespace").write_text("shop")
    with SnapshotAPIServer(build_cluster(), tls=(cert, key), options=ServerOptions(token="pod-token")) as api:
        monkeypatch.delenv("KUBECONFIG", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(api.port))
        monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(account / "token"))
        monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", cert)
        monkeypatch.setattr(live_module, "IN_CLUSTER_NAMESPACE_FILE", str(account / "namespace"))
        result = run_cli("check", "backend", "-o", "json")
        assert result.exit_code == 0, result.stderr
        report = result.json()  # nothing but the report on stdout
        assert report["target"]["namespace"] == "shop"
        assert report["source"] == {"kind": "live", "context": "in-cluster", "server": api.url}


def test_snapshot_serve_command(tmp_path: Path) -> None:
    snapshot = tmp_path / "cluster.json"
    snapshot.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": build_cluster()}))
    config = tmp_path / "kubeconfig"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "svcdoctor", "snapshot", "serve", str(snapshot), "--port",
                               str(port), "--write-kubeconfig", str(config), "-n", "shop", "--forbid", "ingresses"],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not config.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.stderr is not None
        assert f"http://127.0.0.1:{port}" in server.stderr.readline()
        report = run_cli("check", "backend", "--kubeconfig", str(config), "-o", "json").json()
        assert report["verdict"] == "unknown"
        assert any("kubectl auth can-i list ingresses -n shop" in f["next"] for f in report["findings"])
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_record_writes_json_when_large(server: SnapshotAPIServer, kubeconfig: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from svcdoctor.cli import record as record_command

    small = live(kubeconfig, "record", "-n", "shop")
    assert small.exit_code == 0 and small.stdout.startswith("apiVersion: v1")
    monkeypatch.setattr(record_command, "YAML_OBJECT_LIMIT", 5)
    large = live(kubeconfig, "record", "-n", "shop")
    document = json.loads(large.stdout)
    assert {item["metadata"].get("namespace") for item in document["items"][1:]} <= {"shop", "kube-system", None}


def test_invalid_names_never_reach_the_api(server: SnapshotAPIServer, kubeconfig: str) -> None:
    result = live(kubeconfig, "check", "../secrets", "-o", "json")
    assert result.exit_code == 2 and "not a valid Kubernetes name" in result.stderr
    assert server.requests() == []


def test_status_line_on_a_terminal_and_stdout_stays_json(server: SnapshotAPIServer, kubeconfig: str) -> None:
    """stderr a terminal, stdout a pipe: the status line goes to the terminal, the JSON stays clean."""
    import pty

    from svcdoctor.cli.progress import ERASE

    server.options.latency = 0.3  # the status line is redrawn while requests wait
    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": "100",
           "SVCDOCTOR_PROGRESS_AFTER": "0"}
    env.pop("CI", None)
    process = subprocess.Popen([sys.executable, "-m", "svcdoctor", "check", "backend", "--kubeconfig", kubeconfig,
                                "-o", "json"], stdout=subprocess.PIPE, stderr=terminal, env=env)
    os.close(terminal)
    stdout, _ = process.communicate(timeout=60)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    assert process.returncode == 0
    assert json.loads(stdout)["verdict"] == "ok"
    assert b"in flight" in seen and b"kinds read" in seen and seen.endswith(ERASE.encode())


def test_namespace_scoped_credentials(tmp_path: Path) -> None:
    """A user who may read only their namespace: one SD001 listing every unreadable resource, never ok."""
    forbid = {"namespaces", "nodes", "kube-system/services", "kube-system/pods", "kube-system/configmaps",
              "kube-system/daemonsets", "kube-system/endpointslices"}
    with SnapshotAPIServer(build_cluster(), options=ServerOptions(forbid=forbid)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        result = live(config, "check", "backend", "-o", "json")
        assert result.exit_code == 4, result.stderr
        report = result.json()
        assert report["verdict"] == "unknown"
        grouped = [f for f in report["findings"] if f["id"] == "SD001"]
        assert len(grouped) == 1
        unreadable = [(command,) for command in grouped[0]["next"]]
        assert len(unreadable) == len(forbid)
        assert ("kubectl auth can-i get configmaps -n kube-system",) in unreadable
        assert ("kubectl auth can-i list nodes",) in unreadable


def test_service_in_kube_system_reads_nothing_twice(server: SnapshotAPIServer, kubeconfig: str) -> None:
    report = live(kubeconfig, "check", "kube-dns", "-n", "kube-system", "-o", "json").json()
    assert report["target"] == {"namespace": "kube-system", "name": "kube-dns"}
    seen = [(e.path, tuple(sorted(e.query.items()))) for e in server.requests()]
    assert len(seen) == len(set(seen))


def test_record_adds_node_dumps_and_refuses_probes_without_a_service(server: SnapshotAPIServer, kubeconfig: str,
                                                                      tmp_path: Path) -> None:
    dump = tmp_path / "node-a.yaml"
    dump.write_text(yaml.safe_dump({"apiVersion": "svcdoctor.dev/v1", "kind": "NodeDump",
                                    "metadata": {"name": "node-a"}, "proxyMode": "iptables",
                                    "iptablesSave": "*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n"}))
    result = live(kubeconfig, "record", "backend", "--node-dump", str(dump), "--format", "json")
    assert result.exit_code == 0, result.stderr
    dumps = [i for i in json.loads(result.stdout)["items"] if i["kind"] == "NodeDump"]
    assert [d["metadata"]["name"] for d in dumps] == ["node-a"]
    refused = live(kubeconfig, "record", "-n", "shop", "--probe")
    assert refused.exit_code == 2 and "record --probe needs the Service's name" in refused.stderr


def test_no_kubeconfig_and_not_in_a_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    line = _one_line_exit_3(run_cli("check", "backend", "-n", "shop"))
    assert "no kubeconfig found" in line and "--snapshot" in line


def test_kubeconfig_variable_with_several_files(server: SnapshotAPIServer, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """KUBECONFIG=a:b merges as kubectl does: the first file sets the context, the second defines it."""
    first = tmp_path / "first"
    first.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "snapshot"}))
    second = server.write_kubeconfig(str(tmp_path / "second"), namespace="shop")
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    result = run_cli("check", "backend", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["target"]["namespace"] == "shop"


def test_serving_a_recording_replays_its_refused_reads(tmp_path: Path) -> None:
    with SnapshotAPIServer(build_cluster(), options=ServerOptions(forbid={"shop/networkpolicies"})) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        recorded = json.loads(live(config, "record", "backend", "--format", "json").stdout)
    with SnapshotAPIServer(recorded["items"]) as replay:
        config = replay.write_kubeconfig(str(tmp_path / "replay"), namespace="shop")
        report = live(config, "check", "backend", "-o", "json").json()
        assert report["verdict"] == "unknown"
        assert [e.status for e in replay.requests() if e.path.endswith("/networkpolicies")] == [403]


@pytest.mark.parametrize(("scenario", "args", "expected"), [
    ("cilium-starwars-xwing-denied", ("deathstar", "-n", "default", "--from", "default/xwing"), "SD607"),
    ("admin-policy-denies-other-tenant", ("api", "-n", "tenant-a", "--from", "tenant-b/frontend-w9fh6pc5r-lg82c"),
     "SD606"),
    ("gateway-route-cross-namespace-no-grant", ("cart", "-n", "shop"), "SD214"),
])
def test_live_reads_policy_tiers_cilium_and_gateway_api(tmp_path: Path, scenario: str, args: tuple[str, ...],
                                                          expected: str) -> None:
    """The custom resources are read live (as the CRDs serve them) and diagnosed as from the snapshot."""
    documents = yaml.safe_load((ROOT / "fixtures" / "scenarios" / scenario / "snapshot.yaml").read_text())["items"]
    with SnapshotAPIServer([d for d in documents if d.get("apiVersion") != "svcdoctor.dev/v1"]) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="default")
        report = live(config, "check", *args, "-o", "json").json()
        assert [f["id"] for f in report["findings"] if f["severity"] == "error"][:1] == [expected]


def test_scan_of_a_namespace_that_does_not_exist_says_so(server: SnapshotAPIServer, kubeconfig: str,
                                                         tmp_path: Path) -> None:
    result = live(kubeconfig, "scan", "-n", "nosuchns")
    assert result.exit_code == 2 and result.stdout == "", result.stderr
    assert "namespace nosuchns does not exist in the cluster" in result.stderr
    assert live(kubeconfig, "scan", "-n", "shop").exit_code in (0, 1)
    # Without the right to list Namespaces, absence cannot be told from an empty namespace: no claim.
    with SnapshotAPIServer(build_cluster(), options=ServerOptions(forbid={"namespaces"})) as api:
        config = api.write_kubeconfig(str(tmp_path / "forbidden"), namespace="shop")
        assert "does not exist" not in live(config, "scan", "-n", "nosuchns").stderr


class _SilentServer:
    """A real socket that accepts every connection and never answers: counts the attempts a run makes."""

    def __init__(self) -> None:
        import threading

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(512)
        self.port = int(self.socket.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.socket.close()
        for connection in self.accepted:
            connection.close()


def test_a_silent_server_costs_one_wave_of_requests_and_no_retry(tmp_path: Path) -> None:
    """--request-timeout bounds the run only if nothing starts after the first timeout: no urllib3 retry
    and no queued read (main: 32 first-wave connections, then 9 more reads started after the run had failed,
    each another timeout where a request waits for a free worker)."""
    from svcdoctor.sources.live import WORKERS

    server = _SilentServer()
    try:
        config = _plain_kubeconfig(tmp_path, server.port)
        line = _one_line_exit_3(live(str(config), "check", "backend", "-n", "shop", "--request-timeout", "1s"))
        assert "did not answer within 1s" in line
        first_wave = len(server.accepted)
        # Reads still running in this process time out now; anything started after the failure would connect.
        time.sleep(2.5)
        assert 0 < first_wave <= len(server.accepted) <= WORKERS, (first_wave, len(server.accepted))
    finally:
        server.close()
