"""``svcdoctor watch`` against ``svcdoctor snapshot serve``: the real ``kubernetes`` client's watch, end to end.

No wall-clock assertions but generous upper bounds on end-to-end changes (polled, never slept for).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest
import yaml

from svcdoctor import k8s
from svcdoctor.serve.apiserver import ServerOptions, SnapshotAPIServer
from svcdoctor.serve.watch import hub_of
from svcdoctor.sources.files import load_objects
from tests.conftest import SCENARIOS

HEALTHY = SCENARIOS / "healthy-clusterip-deployment" / "snapshot.yaml"
#: Generous: the watcher needs well under a second; a loaded CI machine may need much more.
BOUND = 60.0


def eventually(condition: Callable[[], Any], what: str, bound: float = BOUND) -> Any:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {bound:g}s: {what}")


def broken_selector(objects: list[dict[str, Any]], namespace: str = "shop", name: str = "frontend") -> list[Any]:
    """The same objects, with the Service's selector changed to match no Pod."""
    changed = copy.deepcopy(objects)
    for obj in changed:
        if obj.get("kind") == "Service" and obj["metadata"]["name"] == name \
                and obj["metadata"].get("namespace") == namespace:
            obj["spec"]["selector"] = {"app": "matches-nothing"}
    return changed


def write_list(path: Path, objects: list[Any]) -> None:
    """Replace ``path`` at once (write aside, rename), as an editor or ``kubectl get -o yaml >`` + mv does."""
    aside = path.with_suffix(".tmp")
    aside.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    os.replace(aside, path)


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith((name + "{", name + " ")):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


@pytest.mark.slow
def test_watch_turns_unreachable_when_the_served_file_changes(tmp_path: Path) -> None:
    """Serve a healthy recording, start watch, replace the file: the verdict metric turns unreachable."""
    served = tmp_path / "cluster.yaml"
    objects = [dict(obj) for obj in load_objects(str(HEALTHY))]
    write_list(served, objects)
    kubeconfig = tmp_path / "kubeconfig"
    environment = {**os.environ, "NO_COLOR": "1"}
    server = subprocess.Popen([sys.executable, "-m", "svcdoctor", "snapshot", "serve", str(served), "--port", "0",
                               "--write-kubeconfig", str(kubeconfig)], stderr=subprocess.PIPE, text=True,
                              env=environment)
    watcher: subprocess.Popen[str] | None = None
    try:
        eventually(kubeconfig.exists, "snapshot serve wrote its kubeconfig")
        watcher = subprocess.Popen([sys.executable, "-m", "svcdoctor", "watch", "-A", "--kubeconfig", str(kubeconfig),
                                    "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True, env=environment)
        lines: queue.Queue[str] = queue.Queue()
        stream = watcher.stderr
        assert stream is not None
        threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
        first = lines.get(timeout=BOUND)
        match = re.search(r"metrics at (http://\S+/metrics)", first)
        assert match, first
        url = match.group(1)

        def verdict(value: str) -> bool:
            return metric(scrape(url), "svcdoctor_service_verdict", namespace="shop", service="frontend",
                          verdict=value) == 1

        eventually(lambda: verdict("ok"), "frontend ok at first")
        ready = urllib.request.urlopen(url.replace("/metrics", "/readyz"), timeout=10)
        assert ready.status == 200
        text = scrape(url)
        assert metric(text, "svcdoctor_service_verdict", namespace="shop", service="frontend",
                      verdict="unreachable") == 0
        assert metric(text, "svcdoctor_service_root_cause", namespace="shop", service="frontend") is None

        write_list(served, broken_selector(objects))
        eventually(lambda: verdict("unreachable"), "frontend unreachable after its selector changed")
        text = scrape(url)
        assert metric(text, "svcdoctor_service_verdict", namespace="shop", service="frontend", verdict="ok") == 0
        assert metric(text, "svcdoctor_service_root_cause", namespace="shop", service="frontend", id="SD301") == 1
        assert metric(text, "svcdoctor_service_step_state", namespace="shop", service="frontend", step="3",
                      state="fail") == 1
        logged = eventually(lambda: _drain_json(lines), "a JSON line for the verdict change")
        assert {"namespace": "shop", "service": "frontend", "from": "ok", "to": "unreachable",
                "rootCause": "SD301"}.items() <= logged.items()

        write_list(served, objects)  # repaired: its cause and failed step disappear
        eventually(lambda: verdict("ok"), "frontend ok again")
        text = scrape(url)
        assert metric(text, "svcdoctor_service_root_cause", namespace="shop", service="frontend") is None
        assert metric(text, "svcdoctor_service_step_state", namespace="shop", service="frontend", step="3") is None
    finally:
        for process in (watcher, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def _drain_json(lines: queue.Queue[str]) -> dict[str, Any] | None:
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            return None
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("to") == "unreachable":
                return dict(entry)


# -- in process: 410 Gone and dropped connections ---------------------------------------------------


@contextlib.contextmanager
def watching(tmp_path: Path, objects: list[dict[str, Any]], invocation: Any = None, log: TextIO | None = None,
             namespace: str | None = None, options: ServerOptions | None = None,
             client: Any = None) -> Iterator[tuple[SnapshotAPIServer, Any]]:
    """``objects`` served (with watch streams) and followed by a Watcher in this process, first evaluation done."""
    from svcdoctor.sources.live import LiveSource
    from svcdoctor.watch.loop import Watcher, WatchState
    from svcdoctor.watch.metrics import WatchMetrics

    with SnapshotAPIServer(objects, options=options) as server, open(os.devnull, "w") as devnull:
        hub_of(server)
        kubeconfig = server.write_kubeconfig(str(tmp_path / "kubeconfig"))
        api_client = LiveSource(kubeconfig=kubeconfig).api_client()
        state = WatchState(namespace, WatchMetrics(), invocation=invocation, log=log or devnull, client=client)
        watcher = Watcher(api_client, state).start()
        try:
            eventually(state.metrics.ready.is_set, "the first evaluation")
            yield server, watcher
        finally:
            watcher.stop()


@pytest.fixture
def followed(tmp_path: Path) -> Iterator[tuple[SnapshotAPIServer, Any, list[dict[str, Any]]]]:
    objects = [dict(obj) for obj in load_objects(str(HEALTHY))]
    with watching(tmp_path, objects) as (server, watcher):
        assert watcher.state.reports[("shop", "frontend")].verdict == "ok"
        yield server, watcher, objects


def _relists(watcher: Any) -> float:
    return sum(sample.value for metric in watcher.metrics.relists.collect() for sample in metric.samples
               if sample.name.endswith("_total"))


def _errors(watcher: Any) -> float:
    return sum(sample.value for metric in watcher.metrics.errors.collect() for sample in metric.samples
               if sample.name.endswith("_total"))


def test_watch_lists_again_after_410_gone(followed: tuple[SnapshotAPIServer, Any, list[Any]]) -> None:
    server, watcher, objects = followed
    hub = hub_of(server)
    assert _relists(watcher) == 0
    hub.compact()
    hub.drop_connections()
    eventually(lambda: _relists(watcher) >= 1, "a list again after 410 Gone")
    hub.reload(broken_selector(objects))
    eventually(lambda: watcher.state.reports[("shop", "frontend")].verdict == "unreachable",
               "the change after the new list")


def test_watch_resumes_after_a_dropped_connection(followed: tuple[SnapshotAPIServer, Any, list[Any]]) -> None:
    server, watcher, objects = followed
    hub = hub_of(server)
    eventually(lambda: hub.open_streams >= len(watcher.followers), "every watch stream open")
    hub.drop_connections()
    eventually(lambda: _errors(watcher) >= 1, "the dropped connections counted")
    hub.reload(broken_selector(objects))
    eventually(lambda: watcher.state.reports[("shop", "frontend")].verdict == "unreachable",
               "the change after the connection came back")
    assert _relists(watcher) == 0, "a resumable watch was listed again"


# -- incremental: only the affected Services are diagnosed again ---------------------------------------


def _state(namespaces: int) -> Any:
    from benchmarks.generate import generate
    from svcdoctor.kinds import BY_KIND
    from svcdoctor.watch.follow import Change
    from svcdoctor.watch.loop import WatchState
    from svcdoctor.watch.metrics import WatchMetrics

    items = [obj for obj in generate(services=namespaces * 25, pods_per_service=2, services_per_namespace=25)["items"]
             if obj.get("apiVersion") != "svcdoctor.dev/v1"]
    state = WatchState(None, WatchMetrics(), log=open(os.devnull, "w"))  # noqa: SIM115
    by_kind: dict[str, list[Any]] = {}
    for obj in items:
        by_kind.setdefault(obj["kind"], []).append(obj)
    listed = [Change(BY_KIND[kind], "", "LISTED", listed=tuple(objects)) for kind, objects in by_kind.items()]
    first = state.apply(listed, full=True)
    assert first.diagnosed == namespaces * 25 == state.diagnosed
    return state, items


def _pod_relabelled(state: Any, items: list[Any]) -> tuple[Any, Any]:
    """A batch moving one Pod of a selected workload off its Services' selectors."""
    from svcdoctor.kinds import BY_KIND
    from svcdoctor.watch.follow import Change

    service = next(obj for obj in items if obj["kind"] == "Service" and obj["spec"].get("selector")
                   and state.reports[(obj["metadata"]["namespace"], obj["metadata"]["name"])].verdict == "ok")
    namespace = service["metadata"]["namespace"]
    selector = service["spec"]["selector"]
    pod = next(obj for obj in items if obj["kind"] == "Pod" and obj["metadata"]["namespace"] == namespace
               and all(obj["metadata"].get("labels", {}).get(k) == v for k, v in selector.items()))
    changed = copy.deepcopy(pod)
    changed["metadata"]["labels"] = {"app": "moved-away"}
    return Change(BY_KIND["Pod"], "", "MODIFIED", changed), (namespace, service["metadata"]["name"])


@pytest.mark.parametrize("namespaces", [4, 8])
def test_a_pod_change_diagnoses_only_the_services_selecting_it(namespaces: int) -> None:
    state, items = _state(namespaces)
    before = state.diagnosed
    change, service = _pod_relabelled(state, items)
    evaluation = state.apply([change])
    # The Services that selected the Pod before or select it after: not every Service of the cluster.
    assert 1 <= evaluation.diagnosed <= 3, evaluation
    assert state.diagnosed - before == evaluation.diagnosed
    assert state.reports[service] is not None


def test_a_deleted_service_loses_its_series_and_a_policy_reaches_its_pods_services() -> None:
    from svcdoctor.kinds import BY_KIND
    from svcdoctor.watch.follow import Change

    state, items = _state(4)
    service = next(obj for obj in items if obj["kind"] == "Service")
    key = (service["metadata"]["namespace"], service["metadata"]["name"])
    assert metric(state.metrics.exposition().decode(), "svcdoctor_service_verdict", namespace=key[0],
                  service=key[1]) is not None
    evaluation = state.apply([Change(BY_KIND["Service"], "", "DELETED", copy.deepcopy(service))])
    assert evaluation.diagnosed == 1
    assert metric(state.metrics.exposition().decode(), "svcdoctor_service_verdict", namespace=key[0],
                  service=key[1]) is None
    assert key not in state.reports

    namespace = "app-001" if any(obj["metadata"].get("namespace") == "app-001" for obj in items) else key[0]
    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deny-all", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    evaluation = state.apply([Change(BY_KIND["NetworkPolicy"], "", "ADDED", deny)])
    in_namespace = [k for k in state.reports if k[0] == namespace]
    assert 0 < evaluation.diagnosed <= len(in_namespace) < len(state.reports)


# -- suppressions: what scan would report -------------------------------------------------------------


def _annotated(objects: list[dict[str, Any]], value: str | None, name: str = "frontend") -> list[dict[str, Any]]:
    """The objects with the Service's ``svcdoctor.dev/ignore`` annotation set to ``value`` (None: removed)."""
    changed = copy.deepcopy(objects)
    for obj in changed:
        if obj.get("kind") == "Service" and obj["metadata"]["name"] == name:
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations.pop("svcdoctor.dev/ignore", None)
            if value is not None:
                annotations["svcdoctor.dev/ignore"] = value
    return changed


def _scanned(tmp_path: Path, objects: list[dict[str, Any]], **flags: Any) -> Any:
    """The report ``scan -A`` gives for shop/frontend over the same objects."""
    from svcdoctor.app import Invocation, scan_services

    recorded = tmp_path / "scanned.yaml"
    write_list(recorded, objects)
    reports = scan_services(Invocation(snapshot=str(recorded), **flags), all_namespaces=True)
    return next(report for report in reports if report.target.name == "frontend")


def _verdict_lines(log: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.getvalue().splitlines() if line.startswith("{")]


def test_watch_applies_ignore_annotations_and_a_modified_event_takes_one_away(tmp_path: Path) -> None:
    """An ignored root cause gives no root-cause series and scan's verdict; removing the annotation brings it back."""
    broken = broken_selector([dict(obj) for obj in load_objects(str(HEALTHY))])
    # SD301 and the empty endpoints it causes (SD503): with both ignored, scan says ok.
    ignored = _annotated(broken, "SD301, SD503: the Pods move to the new Deployment next week")
    scanned = _scanned(tmp_path, ignored)
    assert {"SD301", "SD503"} <= {finding.id for finding in scanned.suppressed}, "scan suppresses nothing"
    assert scanned.verdict == "ok"
    log = io.StringIO()
    with watching(tmp_path, ignored, log=log) as (server, watcher):
        key = ("shop", "frontend")
        report = watcher.state.reports[key]
        assert (report.verdict, report.findings) == (scanned.verdict, tuple(f.id for f in scanned.findings))
        text = watcher.metrics.exposition().decode()
        assert metric(text, "svcdoctor_service_verdict", namespace="shop", service="frontend",
                      verdict=scanned.verdict) == 1
        assert metric(text, "svcdoctor_service_verdict", namespace="shop", service="frontend",
                      verdict="unreachable") == 0
        assert metric(text, "svcdoctor_service_root_cause", namespace="shop", service="frontend", id="SD301") is None
        assert not any(line["to"] == "unreachable" for line in _verdict_lines(log))

        hub_of(server).reload(_annotated(broken, None))  # the annotation removed: one MODIFIED Service
        eventually(lambda: watcher.state.reports[key].verdict == "unreachable", "unreachable without the annotation")
        text = watcher.metrics.exposition().decode()
        assert metric(text, "svcdoctor_service_root_cause", namespace="shop", service="frontend", id="SD301") == 1
        assert {"service": "frontend", "to": "unreachable", "rootCause": "SD301"}.items() \
            <= _verdict_lines(log)[-1].items()


def test_watch_applies_ignore_flags_and_baselines_as_scan_does(tmp_path: Path) -> None:
    from svcdoctor.app import Invocation
    from svcdoctor.kinds import BY_KIND
    from svcdoctor.watch.follow import Change
    from svcdoctor.watch.loop import WatchState
    from svcdoctor.watch.metrics import WatchMetrics

    broken = broken_selector([dict(obj) for obj in load_objects(str(HEALTHY))])
    plain = _scanned(tmp_path, broken)
    assert plain.root_cause is not None and plain.root_cause.id == "SD301"
    baseline = tmp_path / "baseline.json"
    _scanned(tmp_path, broken, write_baseline=str(baseline))
    by_kind: dict[str, list[Any]] = {}
    for obj in broken:
        if obj["kind"] in BY_KIND:
            by_kind.setdefault(obj["kind"], []).append(obj)
    listed = [Change(BY_KIND[kind], "", "LISTED", listed=tuple(objects)) for kind, objects in by_kind.items()]
    for flags in ({"ignore": ("SD301", "SD503")}, {"baseline": str(baseline)}):
        scanned = _scanned(tmp_path, broken, **flags)
        assert "SD301" in {finding.id for finding in scanned.suppressed}, flags
        state = WatchState(None, WatchMetrics(), invocation=Invocation(**flags), log=io.StringIO())
        state.apply(listed, full=True)
        report = state.reports[("shop", "frontend")]
        assert (report.verdict, report.findings) == (scanned.verdict, tuple(f.id for f in scanned.findings))
        assert report.verdict != plain.verdict
        assert metric(state.metrics.exposition().decode(), "svcdoctor_service_root_cause", namespace="shop",
                      service="frontend", id="SD301") is None


@pytest.mark.parametrize(("flags", "message"), [
    (["--ignore", "SD999"], "SD999 is not a svcdoctor check"),
    (["--baseline", "/nonexistent/baseline.json"], "no such baseline file"),
])
def test_watch_refuses_bad_suppression_flags_in_one_line(flags: list[str], message: str) -> None:
    from tests.conftest import run_cli

    result = run_cli("watch", "-A", "--kubeconfig", "/nonexistent/kubeconfig", *flags)
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr


# -- what is followed: every kind a diagnosis reads ----------------------------------------------------

COREFILE = ".:53 {\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n    forward . /etc/resolv.conf\n}\n"


def _with_cluster_configuration(objects: list[dict[str, Any]], corefile: str = COREFILE) -> list[dict[str, Any]]:
    """The objects, a second Service and kube-system's CoreDNS ConfigMap (a Corefile)."""
    cart = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cart", "namespace": "shop"},
            "spec": {"selector": {"app": "cart"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    coredns = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
               "data": {"Corefile": corefile}}
    return [*copy.deepcopy(objects), cart, coredns]


def _scan_reads(server: SnapshotAPIServer, kubeconfig: str, namespace: str | None) -> set[tuple[str, str]]:
    """(list path, object name or "") of every read a live ``scan`` makes; a GET of one object as its list and name."""
    from svcdoctor.app import Invocation, scan_services
    from svcdoctor.kinds import BY_PLURAL

    server.clear_log()
    scan_services(Invocation(kubeconfig=kubeconfig, namespace=namespace), all_namespaces=namespace is None)
    reads = set()
    for entry in server.requests():
        parts = entry.path.strip("/").split("/")
        if entry.verb != "GET" or parts[0] not in ("api", "apis") or entry.path.endswith(("/api", "/apis", "/v1")):
            continue
        plural_position = len(parts) - 1
        if parts[-1] not in BY_PLURAL:  # a GET of one object: .../configmaps/coredns
            plural_position -= 1
        path = "/" + "/".join(parts[: plural_position + 1])
        reads.add((path, "/".join(parts[plural_position + 1:])))
    return reads


@pytest.mark.parametrize("namespace", [None, "shop"])
def test_watch_follows_every_kind_a_scan_reads(tmp_path: Path, namespace: str | None) -> None:
    """Each list or get of a live scan (-A, -n shop) is also a watch stream of ``watch`` (same path, same name)."""
    objects = _with_cluster_configuration([dict(obj) for obj in load_objects(str(HEALTHY))])
    with watching(tmp_path, objects, namespace=namespace) as (server, watcher):
        eventually(lambda: hub_of(server).open_streams >= len(watcher.followers), "every watch stream open")
        hub_of(server).drop_connections()  # a stream is logged when it ends

        def streams() -> set[tuple[str, str]]:
            return {(entry.path, entry.query.get("fieldSelector", "").removeprefix("metadata.name="))
                    for entry in server.requests() if entry.query.get("watch") == "true"}

        eventually(lambda: len(streams()) >= len(watcher.followers), "every watch stream logged")
        followed = streams()
        reads = _scan_reads(server, str(tmp_path / "kubeconfig"), namespace)
    assert any(name == "coredns" for _, name in reads) and len(reads) > 20, reads
    missing = sorted(reads - followed)
    assert not missing, f"a scan reads these, watch does not follow them: {missing}"


def test_a_crd_that_is_not_installed_is_none_not_an_error(tmp_path: Path) -> None:
    from svcdoctor.app import Invocation, scan_services

    groups = {"gateway.networking.k8s.io", "cilium.io", "policy.networking.k8s.io"}
    objects = [dict(obj) for obj in load_objects(str(HEALTHY))]
    with watching(tmp_path, objects, options=ServerOptions(missing_groups=groups)) as (server, watcher):
        assert any(entry.status == 404 and "/apis/gateway.networking.k8s.io/" in entry.path
                   for entry in server.requests()), "no CRD was asked for: the test shows nothing"
        snapshot = watcher.state.snapshot
        assert not snapshot.unavailable, snapshot.unavailable
        assert snapshot.holds("HTTPRoute") and snapshot.holds("AdminNetworkPolicy")
        assert _errors(watcher) == 0
        (scanned,) = scan_services(Invocation(kubeconfig=str(tmp_path / "kubeconfig"), namespace="shop"))
        assert watcher.state.reports[("shop", "frontend")].verdict == scanned.verdict == "ok"


def test_a_corefile_change_diagnoses_every_service_again(tmp_path: Path) -> None:
    objects = _with_cluster_configuration([dict(obj) for obj in load_objects(str(HEALTHY))])
    with watching(tmp_path, objects) as (server, watcher):
        state = watcher.state
        services = {("shop", "frontend"), ("shop", "cart")}
        assert services <= set(state.reports)
        assert state.snapshot.get("ConfigMap", "kube-system", "coredns") is not None
        before = state.diagnosed
        changed = COREFILE.replace("cluster.local", "corp.example")
        assert hub_of(server).reload(_with_cluster_configuration(objects, changed)) == 1
        eventually(lambda: state.diagnosed - before >= len(state.reports), "every Service diagnosed again")
        corefile = state.snapshot.get("ConfigMap", "kube-system", "coredns")
        assert corefile is not None and "corp.example" in corefile["data"]["Corefile"]


def test_policy_tiers_gateway_api_and_cilium_changes_reach_the_right_services() -> None:
    from svcdoctor.kinds import BY_KIND
    from svcdoctor.watch.follow import Change

    state, items = _state(4)
    services = [obj for obj in items if obj["kind"] == "Service"]
    target = services[0]["metadata"]
    namespace = target["namespace"]
    other = next(obj["metadata"]["namespace"] for obj in services if obj["metadata"]["namespace"] != namespace)
    in_namespace = sum(1 for key in state.reports if key[0] == namespace)

    def diagnosed(kind: str, obj: dict[str, Any]) -> int:
        evaluation: Any = state.apply([Change(BY_KIND[kind], "", "ADDED", obj)])
        return int(evaluation.diagnosed)

    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "web", "namespace": other},
             "spec": {"parentRefs": [{"name": "edge"}], "rules": [{"backendRefs": [
                 {"name": target["name"], "namespace": namespace, "port": 80}]}]}}
    assert diagnosed("HTTPRoute", route) == 1  # the Service it names, in another namespace
    gateway = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "edge", "namespace": other},
               "spec": {"gatewayClassName": "x", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}
    assert diagnosed("Gateway", gateway) == 1  # every Service a route names
    grant = {"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
             "metadata": {"name": "from-other", "namespace": namespace},
             "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": other}],
                      "to": [{"group": "", "kind": "Service"}]}}
    assert diagnosed("ReferenceGrant", grant) == in_namespace
    cilium = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
              "metadata": {"name": "deny", "namespace": namespace}, "spec": {"endpointSelector": {}, "ingress": [{}]}}
    assert diagnosed("CiliumNetworkPolicy", cilium) == in_namespace
    admin = {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
             "metadata": {"name": "deny"}, "spec": {"priority": 10, "subject": {"namespaces": {}}, "ingress": []}}
    assert diagnosed("AdminNetworkPolicy", admin) == len(state.reports) > in_namespace
    flannel = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-flannel-cfg",
                                                                     "namespace": "kube-flannel"},
               "data": {"cni-conf.json": "{}"}}
    assert diagnosed("ConfigMap", flannel) == len(state.reports)


def _work_of_one_pod_change(monkeypatch: pytest.MonkeyPatch, namespaces: int) -> Counter[str]:
    """Bytes allocated (tracemalloc's peak), selector matches, label and namespace reads while one Pod
    change is applied and its Services diagnosed (after a first change: a kind's first change converts it)."""
    import tracemalloc

    from svcdoctor import k8s
    from svcdoctor.selectors import Selector
    from tests.test_scale import _counting

    state, items = _state(namespaces)
    state.apply([_pod_relabelled(state, items)[0]])
    change, _ = _pod_relabelled(state, items)
    counter: Counter[str] = Counter()
    with monkeypatch.context() as patch:
        patch.setattr(Selector, "matches", _counting(counter, "selector matches", Selector.matches))
        patch.setattr(k8s, "labels", _counting(counter, "label reads", k8s.labels))
        patch.setattr(k8s, "namespace", _counting(counter, "namespace reads", k8s.namespace))
        tracemalloc.start()
        try:
            state.apply([change])
            counter["bytes allocated"] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return counter


def test_one_pod_change_costs_the_same_in_a_cluster_four_times_as_large(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted, not timed: the Snapshot changed in place and the Services selecting the Pod diagnosed, nothing
    more (copying the Snapshot's indexes, as before, allocated in proportion to the cluster)."""
    small = _work_of_one_pod_change(monkeypatch, 4)
    large = _work_of_one_pod_change(monkeypatch, 16)
    for name in ("bytes allocated", "selector matches", "label reads", "namespace reads"):
        assert small[name] > 0, f"nothing counted for {name}: the counter is not wired"
        assert large[name] <= 1.25 * small[name], (name, small[name], large[name])


def test_watch_keeps_no_managed_fields(tmp_path: Path) -> None:
    """What the API server writes at length and no check reads is dropped as objects arrive."""
    objects = [dict(obj) for obj in load_objects(str(HEALTHY))]
    bulky = copy.deepcopy(objects)
    for obj in bulky:
        metadata = obj.setdefault("metadata", {})
        metadata["managedFields"] = [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]
        metadata.setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    with watching(tmp_path, bulky) as (server, watcher):
        changed = copy.deepcopy(bulky)  # and a MODIFIED event carrying them
        for obj in changed:
            if obj["kind"] == "Service":
                obj["metadata"].setdefault("labels", {})["revision"] = "2"
        hub_of(server).reload(changed)
        eventually(lambda: k8s.labels(watcher.state.snapshot.service("shop", "frontend")).get("revision") == "2",
                   "the MODIFIED Service")
        held = watcher.state.snapshot.objects()
        assert len(held) == len([obj for obj in objects if obj["kind"] != "SnapshotInfo"])
        assert not any("managedFields" in obj["metadata"] for obj in held)
        applied = "kubectl.kubernetes.io/last-applied-configuration"
        assert not any(applied in k8s.object_annotations(obj) for obj in held)
        assert watcher.state.reports[("shop", "frontend")].verdict == "ok"


# -- watch --from: every Service judged for one client -------------------------------------------------

FROM = SCENARIOS / "netpol-cross-namespace-client"


def test_watch_from_judges_for_the_client_as_check_from_does(tmp_path: Path) -> None:
    """A client in another namespace than the watched one: its Pod is followed, and a change to it alone
    (new labels) diagnoses the Services again, each time as ``check --from`` reports it."""
    from svcdoctor.app import Invocation, check_service
    from svcdoctor.client_names import parse_client

    args = yaml.safe_load((FROM / "scenario.yaml").read_text())["args"]
    name, namespace, value = args[1], args[args.index("-n") + 1], args[args.index("--from") + 1]
    objects = [dict(obj) for obj in load_objects(str(FROM / "snapshot.yaml"))]
    client = parse_client(value, namespace, lambda _: False)
    assert client.namespace != namespace, "the client must be in another namespace: a useless test"
    fixed = copy.deepcopy(objects)  # the policy's peer becomes namespaceSelector AND podSelector
    for obj in fixed:
        if obj["kind"] == "NetworkPolicy":
            peer = obj["spec"]["ingress"][0]["from"][0]
            peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": client.namespace}}
    relabelled = copy.deepcopy(fixed)  # and the client's Pod is no longer the one it admits
    for obj in relabelled:
        if obj["kind"] == "Pod" and obj["metadata"]["name"] == client.name:
            obj["metadata"]["labels"]["app"] = "grafana"

    def checked(state: list[dict[str, Any]], index: int) -> tuple[str, tuple[str, ...]]:
        recorded = tmp_path / f"checked-{index}.yaml"
        write_list(recorded, state)
        report = check_service(Invocation(snapshot=str(recorded), namespace=namespace, from_pod=value), name)
        return report.verdict, tuple(finding.id for finding in report.findings)

    expected = [checked(state, index) for index, state in enumerate((objects, fixed, relabelled))]
    assert expected[0][0] != expected[1][0] != expected[2][0], expected
    log = io.StringIO()
    with watching(tmp_path, objects, namespace=namespace, client=client, log=log) as (server, watcher):
        state = watcher.state
        report = state.reports[(namespace, name)]
        assert (report.verdict, report.findings) == expected[0]
        for objects_now, (verdict, findings) in zip((fixed, relabelled), expected[1:], strict=True):
            hub_of(server).reload(objects_now)
            eventually(lambda verdict=verdict: state.reports[(namespace, name)].verdict == verdict,
                       f"{verdict} for the client")
            assert state.reports[(namespace, name)].findings == findings
    clients = [line for line in _verdict_lines(log) if line.get("event") == "client"]
    assert clients and clients[0]["pod"] == f"{client.namespace}/{client.name}", clients


def _series_of(text: str, namespace: str, service: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("svcdoctor_service_")
            and f'namespace="{namespace}"' in line and f'service="{service}"' in line]


def test_a_healthy_service_has_only_its_verdict_series() -> None:
    """Step series only for fail and unknown steps: a healthy Service's partial and skipped steps add none."""
    state, _ = _state(2)
    text = state.metrics.exposition().decode()
    healthy = [key for key, diagnosis in state.reports.items() if diagnosis.verdict == "ok"]
    assert len(healthy) >= 10
    for namespace, service in healthy:
        assert len(_series_of(text, namespace, service)) == 4, _series_of(text, namespace, service)


# -- losing the API: readiness, staleness, a JSON line each way ---------------------------------------


def _health(url: str) -> tuple[int, str]:
    import urllib.error

    try:
        with urllib.request.urlopen(url.replace("/metrics", "/readyz"), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _serve(served: Path, kubeconfig: Path, port: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "svcdoctor", "snapshot", "serve", str(served), "--port", str(port),
                             "--write-kubeconfig", str(kubeconfig)], stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "NO_COLOR": "1"})


@pytest.mark.slow
def test_watch_says_when_it_loses_the_api_and_when_it_regains_it(tmp_path: Path) -> None:
    """``snapshot serve`` stopped under a running watch: /readyz 503 with the reason, svcdoctor_watch_up 0,
    errors counted, the verdicts kept, one JSON line; restarted: ready again, one JSON line, changes followed."""
    from urllib.parse import urlsplit

    served = tmp_path / "cluster.yaml"
    objects = [dict(obj) for obj in load_objects(str(HEALTHY))]
    write_list(served, objects)
    kubeconfig = tmp_path / "kubeconfig"
    server: subprocess.Popen[str] | None = _serve(served, kubeconfig)
    watcher: subprocess.Popen[str] | None = None
    logged: list[dict[str, Any]] = []
    try:
        eventually(kubeconfig.exists, "snapshot serve wrote its kubeconfig")
        port = urlsplit(yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]).port
        assert port is not None
        watcher = subprocess.Popen([sys.executable, "-m", "svcdoctor", "watch", "-A", "--kubeconfig", str(kubeconfig),
                                    "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "NO_COLOR": "1"})
        lines: queue.Queue[str] = queue.Queue()
        stream = watcher.stderr
        assert stream is not None
        threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
        match = re.search(r"metrics at (http://\S+/metrics)", lines.get(timeout=BOUND))
        assert match
        url = match.group(1)

        def api_line(state: str) -> dict[str, Any] | None:
            while True:
                try:
                    line = lines.get_nowait()
                except queue.Empty:
                    break
                if line.startswith("{"):
                    logged.append(json.loads(line))
            return next((entry for entry in logged if entry.get("event") == "api" and entry.get("state") == state),
                        None)

        eventually(lambda: _health(url)[0] == 200, "ready after the first evaluation")
        text = scrape(url)
        assert metric(text, "svcdoctor_watch_up") == 1
        assert metric(text, "svcdoctor_service_verdict", namespace="shop", service="frontend", verdict="ok") == 1
        errors = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                     if line.startswith("svcdoctor_watch_errors_total{"))
        assert api_line("lost") is None

        server.terminate()
        server.wait(timeout=30)
        server = None
        _, body = eventually(lambda: (health := _health(url))[0] == 503 and health, "not ready once the API is lost")
        assert body.startswith("API lost: the API server has not answered"), body
        text = scrape(url)
        assert metric(text, "svcdoctor_watch_up") == 0
        assert sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("svcdoctor_watch_errors_total{")) > errors
        # The verdicts are kept (svcdoctor_watch_up says they are from before): the Service was ok when last seen.
        assert metric(text, "svcdoctor_service_verdict", namespace="shop", service="frontend", verdict="ok") == 1
        lost = eventually(lambda: api_line("lost"), "a JSON line for the lost API")
        assert "verdicts are from before" in lost["reason"]
        assert api_line("regained") is None

        server = _serve(served, kubeconfig, port)  # the same address: it keeps the kubeconfig's token
        eventually(lambda: _health(url)[0] == 200, "ready again once the API answers")
        assert metric(scrape(url), "svcdoctor_watch_up") == 1
        regained = eventually(lambda: api_line("regained"), "a JSON line for the regained API")
        assert regained["lostSeconds"] >= 0
        assert [entry["state"] for entry in logged if entry.get("event") == "api"] == ["lost", "regained"]
        write_list(served, broken_selector(objects))
        eventually(lambda: metric(scrape(url), "svcdoctor_service_verdict", namespace="shop", service="frontend",
                                  verdict="unreachable") == 1, "the restarted server's changes followed")
    finally:
        for process in (watcher, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


# -- back-off and coalescing, counted ------------------------------------------------------------------


class _Rounds(threading.Event):
    """A follower's stop event that records each back-off instead of sleeping it, and stops after ``rounds``."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.rounds = rounds
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        if len(self.waits) >= self.rounds:
            self.set()
        return self.is_set()


def _gone_api(tmp_path: Path) -> Any:
    """A real ``kubernetes`` client configured for a snapshot API server that has stopped (its port refuses)."""
    from svcdoctor.sources.live import LiveSource

    with SnapshotAPIServer([]) as server:
        kubeconfig = server.write_kubeconfig(str(tmp_path / "kubeconfig"))
    return LiveSource(kubeconfig=kubeconfig).api_client()


def test_a_failing_stream_backs_off_doubling_to_its_bound_and_the_api_is_lost_once(tmp_path: Path) -> None:
    """Each refused list is one error and one back-off (0.5 s doubling, jittered by at most a quarter, to 30 s);
    the API counts as lost at the LOST_AFTER_FAILURES-th failure in a row, said in one JSON line."""
    from svcdoctor.watch.follow import BACKOFF_MAX, BACKOFF_START
    from svcdoctor.watch.loop import LOST_AFTER_FAILURES, Watcher, WatchState
    from svcdoctor.watch.metrics import WatchMetrics

    log = io.StringIO()
    watcher = Watcher(_gone_api(tmp_path), WatchState(None, WatchMetrics(), log=log))
    follower = watcher.followers[0]
    seen: list[int] = []
    follower.on_health = lambda changed: (seen.append(changed.failures), watcher._health(changed))
    rounds = _Rounds(10)
    follower._stop = rounds
    follower._run()  # in this thread: no list succeeds, so it never reaches a stream
    assert follower.lists == 0 and follower.failures == 10 == len(rounds.waits)
    assert _errors(watcher) == 10 and _relists(watcher) == 0
    expected = [min(BACKOFF_START * 2 ** attempt, BACKOFF_MAX) for attempt in range(10)]
    for waited, bound in zip(rounds.waits, expected, strict=True):
        assert bound <= waited <= bound * 1.25, (rounds.waits, expected)
    assert seen == list(range(1, 11))
    lines = _verdict_lines(log)
    assert [line["state"] for line in lines if line.get("event") == "api"] == ["lost"]
    assert metric(watcher.metrics.exposition().decode(), "svcdoctor_watch_up") == 0
    assert f"not answered for 10 tries in a row (1 of {len(watcher.followers)} streams" in watcher.metrics.lost
    assert LOST_AFTER_FAILURES < 10


def test_a_burst_of_events_is_one_evaluation(tmp_path: Path) -> None:
    """Changes queued within the coalescing window are one batch: one evaluation, each Service diagnosed once."""
    from svcdoctor.kinds import BY_KIND
    from svcdoctor.watch.follow import Change
    from svcdoctor.watch.loop import Watcher, WatchState
    from svcdoctor.watch.metrics import WatchMetrics

    objects = [dict(obj) for obj in load_objects(str(HEALTHY))]
    watcher = Watcher(_gone_api(tmp_path), WatchState(None, WatchMetrics(), log=io.StringIO()))
    listed = [Change(BY_KIND[kind], "", "LISTED", listed=tuple(obj for obj in objects if obj["kind"] == kind))
              for kind in sorted({obj["kind"] for obj in objects} & set(BY_KIND))]
    watcher._run_batch(listed, full=True)
    services = len(watcher.state.reports)
    before = (watcher.evaluations, watcher.state.diagnosed)
    pods = [obj for obj in objects if obj["kind"] == "Pod"]
    assert pods
    for round_ in range(25):  # a rollout's worth of updates to the same Pods
        for pod in pods:
            changed = copy.deepcopy(pod)
            changed["metadata"]["resourceVersion"] = str(1000 + round_)
            watcher.changes.put(Change(BY_KIND["Pod"], "", "MODIFIED", changed))
    batch = watcher._take(0)
    assert len(batch) == 25 * len(pods) and watcher.changes.empty()
    watcher._run_batch(batch)
    assert watcher.evaluations - before[0] == 1
    assert 1 <= watcher.state.diagnosed - before[1] <= services
    assert _events(watcher) == 25 * len(pods)


def _events(watcher: Any) -> float:
    return sum(sample.value for metric in watcher.metrics.events.collect() for sample in metric.samples
               if sample.name.endswith("_total"))
