"""Never claim more than the evidence (issue 12): step states, what the verdict rests on, confidence,
refused reads and the exit code of an unknown verdict.

Each test names the false claim today's main made; the scenarios carry the rest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from svcdoctor.serve.apiserver import ServerOptions, SnapshotAPIServer
from svcdoctor.sources.files import load_objects
from tests.conftest import SCENARIOS, run_cli
from tests.test_precision import DEPLOYMENT, PROMETHEUS, PROMETHEUS_SERVICE

EVIDENCE = "svcdoctor.dev/v1"


def _objects(scenario: str) -> list[dict[str, Any]]:
    return [dict(obj) for obj in load_objects(str(SCENARIOS / scenario / "snapshot.yaml"))]


def _args(scenario: str) -> list[str]:
    return [str(a) for a in yaml.safe_load((SCENARIOS / scenario / "scenario.yaml").read_text())["args"]]


def _write(tmp_path: Path, objects: list[dict[str, Any]], name: str = "snapshot.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    return str(path)


def _steps(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {step["step"]: step for step in report["steps"]}


def test_without_a_node_dump_step_8_is_not_a_pass_though_kube_proxy_runs(tmp_path: Path) -> None:
    # The dump proves the ClusterIP has no rules; without it main said ✔ and OK from the running Pods.
    objects = [o for o in _objects("cluster-ip-rules-missing") if o.get("kind") != "NodeDump"]
    result = run_cli(*_args("cluster-ip-rules-missing"), "--snapshot", _write(tmp_path, objects), "-o", "json")
    report = result.json()
    step8 = _steps(report)[8]
    assert step8["status"] == "partial"
    assert "SD801" in step8["checked"] and any(item["what"] == "no node dump" for item in step8["missing"])
    assert "svcdoctor collect node" in step8["missing"][0]["how"]
    # Nobody asked for a dump: ok as far as checked, exit 0 — not unknown.
    assert report["verdict"] == "ok" and result.exit_code == 0
    text = run_cli(*_args("cluster-ip-rules-missing"), "--snapshot", _write(tmp_path, objects)).stdout
    assert "✔ 8" not in text and "◐ 8" in text
    assert "OK as far as checked" in text and "kube-proxy rules" in text


def test_kube_proxy_plays_no_part_for_a_headless_or_external_name_service_so_step_8_is_skipped() -> None:
    # main said ✔ 8 for a headless Service with no dump: SD802–SD805 "did not apply", SD801 alone passed it.
    for scenario in ("dns-headless-stale-address", "healthy-externalname-resolves"):
        snapshot = str(SCENARIOS / scenario / "snapshot.yaml")
        report = run_cli(*_args(scenario), "--snapshot", snapshot, "-o", "json").json()
        step8 = _steps(report)[8]
        assert step8["status"] == "skipped", (scenario, step8)
        assert "kube-proxy plays no part" in step8["reason"] and step8["checked"] == []


def test_a_check_saying_its_step_does_not_apply_outweighs_an_unrelated_pass() -> None:
    from svcdoctor.engine import step_results
    from svcdoctor.report import CheckResult

    results = [CheckResult("SD801", 8, "pass"),
               CheckResult("SD802", 8, "skipped", "no part in the path", step_does_not_apply=True)]
    step8 = next(step for step in step_results([], results) if step.step == 8)
    assert (step8.status, step8.reason) == ("skipped", "no part in the path")


def test_a_client_without_dns_answers_leaves_step_7_partial(tmp_path: Path) -> None:
    result = run_cli(*_args("cluster-ip-rules-missing"), "--snapshot",
                     str(SCENARIOS / "cluster-ip-rules-missing" / "snapshot.yaml"), "-o", "json")
    step7 = _steps(result.json())[7]
    assert step7["status"] != "pass"
    assert any("no DNS answers" in item["what"] for item in step7["missing"])


def test_the_demo_shows_no_tick_on_step_7_without_dns_objects() -> None:
    text = run_cli("demo").stdout
    assert "✔ 7" not in text
    report = run_cli("demo", "-o", "json").json()
    assert _steps(report)[7]["status"] in ("partial", "skipped")


def test_a_missing_service_with_a_client_claims_nothing_after_step_1() -> None:
    result = run_cli(*_args("service-name-typo"), "--from", "prod/payment-api-csj6wpcvh-7wrhh",
                     "--snapshot", str(SCENARIOS / "service-name-typo" / "snapshot.yaml"), "-o", "json")
    steps = _steps(result.json())
    assert steps[1]["status"] == "fail"
    assert all(steps[n]["status"] != "pass" for n in range(2, 10) if n in steps), steps
    assert all(steps[n]["status"] == "skipped" for n in (6, 7, 8, 9) if n in steps)


def test_kinds_a_snapshot_does_not_hold_are_not_recorded_unless_it_says_they_were_listed(tmp_path: Path) -> None:
    objects = _objects("healthy-clusterip-deployment")
    client = next(o for o in objects if o.get("kind") == "Pod")
    client_name = f"{client['metadata']['namespace']}/{client['metadata']['name']}"
    args = ["check", "frontend", "-n", "shop", "--from", client_name, "-o", "json"]
    step6 = _steps(run_cli(*args, "--snapshot", _write(tmp_path, objects)).json())[6]
    assert step6["status"] == "partial"
    assert "none exist, or they were not recorded" in step6["missing"][0]["what"]
    kinds = ("NetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy",
             "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")
    info = {"apiVersion": EVIDENCE, "kind": "SnapshotInfo", "recorded": [{"kind": kind} for kind in kinds]}
    listed = [o for o in objects if o.get("kind") != "SnapshotInfo"] + [info]
    assert _steps(run_cli(*args, "--snapshot", _write(tmp_path, listed, "listed.json")).json())[6]["status"] == "pass"


def test_findings_say_how_sure_they_are_and_a_likely_cause_is_shown_as_such() -> None:
    scenario = "targetport-defaults-to-service-port"
    snapshot = str(SCENARIOS / scenario / "snapshot.yaml")
    report = run_cli(*_args(scenario), "--snapshot", snapshot, "-o", "json").json()
    sd201 = next(f for f in report["findings"] if f["id"] == "SD201")
    assert sd201["confidence"] == "likely"
    assert report["verdict"] == "unreachable"  # main: unknown, headed "UNKNOWN · root cause: SD201"
    text = run_cli(*_args(scenario), "--snapshot", snapshot).stdout
    assert "LIKELY UNREACHABLE · probable cause: SD201" in text
    certain = run_cli(*_args("selector-label-renamed"), "--snapshot",
                      str(SCENARIOS / "selector-label-renamed" / "snapshot.yaml"), "-o", "json").json()
    assert certain["findings"][0]["confidence"] == "certain"


def test_an_unknown_verdict_has_no_root_cause_headline_and_exits_4(tmp_path: Path) -> None:
    snapshot = str(SCENARIOS / "networkpolicies-forbidden" / "snapshot.yaml")
    result = run_cli(*_args("networkpolicies-forbidden"), "--snapshot", snapshot)
    assert result.exit_code == 4  # main: 0, so a CI gate stayed green while svcdoctor could not look
    assert "UNKNOWN · root cause" not in result.stdout and "UNKNOWN · not decided" in result.stdout
    assert run_cli(*_args("networkpolicies-forbidden"), "--snapshot", snapshot, "--accept-unknown").exit_code == 0
    assert run_cli("scan", "-n", "prod", "--snapshot", snapshot).exit_code == 4


def test_an_unknown_verdict_from_blind_probes_says_what_was_not_seen() -> None:
    """No step is unknown here: the probes (SD905) are what left the verdict open, and the headline and
    -v say so with the finding's words and its next command, and no hop is marked as the break."""
    snapshot = str(SCENARIOS / "probes-from-outside-cluster" / "snapshot.yaml")
    for verbose in ((), ("-v",)):
        result = run_cli(*_args("probes-from-outside-cluster"), "--snapshot", snapshot, *verbose)
        assert result.exit_code == 4
        lines = result.stdout.splitlines()
        headline = next(line for line in lines if "UNKNOWN" in line)
        assert "not decided: the probes could not see the cluster network (SD905)" in headline
        assert "could not be read" not in headline
        assert "SD905 None of the 5 probes" in result.stdout and "192.168.1.23" in result.stdout
        assert "deploy/job.yaml" in result.stdout
        assert "BREAK" not in result.stdout
        if not verbose:  # the reason's second line stays under its first
            assert "\n  was answered from 192.168.1.23" in result.stdout
    page = run_cli(*_args("probes-from-outside-cluster"), "--snapshot", snapshot, "-o", "html").stdout
    assert "data-root-cause" not in page and 'data-undecided="true"' in page and "SD905 None of the 5" in page
    comment = run_cli(*_args("probes-from-outside-cluster"), "--snapshot", snapshot, "-o", "markdown").stdout
    assert "- step 9: SD905 None of the 5 probes" in comment and "Root cause" not in comment


def test_the_html_page_says_how_sure_the_verdict_is() -> None:
    snapshot = str(SCENARIOS / "targetport-defaults-to-service-port" / "snapshot.yaml")
    page = run_cli(*_args("targetport-defaults-to-service-port"), "--snapshot", snapshot, "-o", "html").stdout
    assert 'data-verdict="unreachable">likely unreachable<' in page and "<b>Probable cause: SD201" in page


def _live(scenario: str, forbid: set[str], tmp_path: Path) -> tuple[int, str, dict[str, Any]]:
    objects = [o for o in _objects(scenario) if o.get("apiVersion") != EVIDENCE]
    with SnapshotAPIServer(objects, options=ServerOptions(forbid=forbid)) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
        text = run_cli(*_args(scenario), "--kubeconfig", config)
        result = run_cli(*_args(scenario), "--kubeconfig", config, "-o", "json")
    assert not result.stderr, result.stderr
    return result.exit_code, text.stdout, result.json()


def test_forbidden_kube_system_services_are_not_a_missing_kube_dns_service(tmp_path: Path) -> None:
    # main: "unreachable", SD703 "Restore the kube-dns Service" for a healthy Service.
    code, text, report = _live("netpol-named-port-allowed", {"kube-system/services"}, tmp_path)
    assert "SD703" not in [f["id"] for f in report["findings"]]
    assert report["verdict"] == "unknown" and code == 4
    assert _steps(report)[7]["status"] == "unknown"
    grouped = [f for f in report["findings"] if f["id"] == "SD001"]
    assert len(grouped) == 1 and "kubectl auth can-i list services -n kube-system" in grouped[0]["next"]
    assert "UNKNOWN · root cause" not in text


def test_a_forbidden_client_pod_is_not_a_pod_missing_from_the_cluster(tmp_path: Path) -> None:
    # main: exit 2, "--from: Pod web/frontend-… is not in the cluster".
    code, _, report = _live("netpol-named-port-allowed", {"pods"}, tmp_path)
    assert code == 4 and report["verdict"] == "unknown"
    assert _steps(report)[6]["status"] == "unknown"
    grouped = [f for f in report["findings"] if f["id"] == "SD001"]
    assert len(grouped) == 1 and any(command.startswith("kubectl auth can-i get pods -n web")
                                     or command.startswith("kubectl auth can-i list pods")
                                     for command in grouped[0]["next"])


def test_record_writes_what_it_listed(tmp_path: Path) -> None:
    objects = [o for o in _objects("healthy-clusterip-deployment") if o.get("apiVersion") != EVIDENCE]
    with SnapshotAPIServer(objects) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
        out = tmp_path / "recorded.yaml"
        assert run_cli("record", "frontend", "-n", "shop", "--kubeconfig", config, "-o", str(out)).exit_code == 0
    recorded = next(o for o in load_objects(str(out)) if o.get("kind") == "SnapshotInfo")["recorded"]
    kinds = {item["kind"]: item.get("namespaces") for item in recorded}
    assert kinds["NetworkPolicy"] == ["shop"] and "Node" in kinds and kinds["Node"] is None
    # The recording speaks for its kinds: no NetworkPolicy in shop means none, so step 6 is no longer
    # partial for want of them (only for want of a client).
    report = run_cli("check", "frontend", "-n", "shop", "--snapshot", str(out), "-o", "json").json()
    assert [item["what"] for item in _steps(report)[6]["missing"]] == ["no client"]


# -- an info finding that stands for "could not verify" leaves its step partial ---------------------

#: Three Services whose selection cannot be verified before deploy: a selector on a deploy-time label,
#: Pods an operator will create, Pods that declare no container ports.
UNVERIFIABLE = {
    "web-hash": DEPLOYMENT.replace("{selector}", "{app: web, pod-template-hash: 5d7c9f}").replace(
        "name: web}\nspec:\n  selector: {app", "name: web-hash}\nspec:\n  selector: {app"),
    "prometheus-main": PROMETHEUS_SERVICE + PROMETHEUS,
    "bare": DEPLOYMENT.replace("{selector}", "{app: web}").replace(", ports: [{name: http, containerPort: 8080}]", "")
    .replace("name: web}\nspec:\n  selector: {app", "name: bare}\nspec:\n  selector: {app")
    .replace("targetPort: http", "targetPort: 8080"),
}


def _check_manifests(tmp_path: Path, service: str) -> dict[str, Any]:
    path = tmp_path / f"{service}.yaml"
    path.write_text(UNVERIFIABLE[service])
    result = run_cli("check", service, "-n", "default", "--manifests", str(path), "-o", "json")
    assert result.exit_code == 0, result.stdout
    return result.json()


def test_a_selector_known_only_after_deploy_is_partial_not_pass(tmp_path: Path) -> None:
    # Main showed ✔ on step 3 beside an info SD301 saying the selector could not be judged before deploy.
    for service, why in (("web-hash", "pod-template-hash is known only after deploy"),
                         ("prometheus-main", "will create do not exist yet")):
        report = _check_manifests(tmp_path, service)
        assert [f["id"] for f in report["findings"] if f["id"] == "SD301"] == ["SD301"]
        step3 = _steps(report)[3]
        assert step3["status"] == "partial", step3
        assert "SD301" in step3["checked"]
        missing = step3["missing"][0]
        assert why in missing["what"], missing
        assert f"after deploy: svcdoctor check {service} -n default" in missing["how"]
        assert "kubectl get pods -n default -l " in missing["how"]


def test_pods_that_declare_no_ports_leave_step_2_partial(tmp_path: Path) -> None:
    # SD201 says it "cannot tell whether anything listens there": that is not a ✔.
    report = _check_manifests(tmp_path, "bare")
    step2 = _steps(report)[2]
    assert step2["status"] == "partial", step2
    assert "whether the Pods listen on port 8080" in step2["missing"][0]["what"]
    assert "svcdoctor check bare -n default --probe" in step2["missing"][0]["how"]


def test_a_skipped_step_names_each_missing_thing_once() -> None:
    """'no client; no DNS answers; no client and no DNS answers' said one thing three times (new user's note
    #11): the combined entry's checks join the entries it combines."""
    snapshot = str(SCENARIOS / "targetport-defaults-to-service-port" / "snapshot.yaml")
    report = run_cli(*_args("targetport-defaults-to-service-port"), "--snapshot", snapshot, "-o", "json").json()
    step7 = next(step for step in report["steps"] if step["step"] == 7)
    whats = [item["what"] for item in step7["missing"]]
    assert len(whats) == len(set(whats)) and "no client and no DNS answers" not in whats, whats
    by_what = {item["what"]: item["checks"] for item in step7["missing"]}
    assert "SD704" in by_what["no client"] and "SD704" in by_what["no DNS answers"]
    assert step7["reason"].count("no client") == 1
