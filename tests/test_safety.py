"""Safe to share, safe to run: clean terminals, atomic private files, minimal recordings, bounds."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
import yaml

from svcdoctor.atomic import write_text
from svcdoctor.errors import InputError
from svcdoctor.findings import Evidence, Finding, Severity, Target
from svcdoctor.k8s import ObjectRef
from svcdoctor.minimal import MASK, masked, minimal
from svcdoctor.render import render
from svcdoctor.report import Report, StepResult
from svcdoctor.sources.files import load_objects
from svcdoctor.terminal import visible
from tests.conftest import ROOT, run_cli

SCENARIOS = ROOT / "fixtures" / "scenarios"
ESCAPES = "\x1b[2J\x1b[H\x1b]0;owned\x07\x9b31m\u202e"


# -- terminal-safe text -----------------------------------------------------------------------------


def test_visible_spells_out_control_and_bidi_characters() -> None:
    assert visible("ok\tline\nnext") == "ok\tline\nnext"
    assert visible("a\x1b[2Jb\rc\u202ed") == "a\\x1b[2Jb\\x0dc\\u202ed"


def _poisoned_scenario(tmp_path: Path) -> Path:
    """readiness-probe-failing with escape sequences in its Event message and a label value."""
    objects = [dict(obj) for obj in load_objects(str(SCENARIOS / "readiness-probe-failing" / "snapshot.yaml"))]
    for obj in objects:
        if obj.get("kind") == "Event":
            obj["message"] = f"Readiness probe failed: {ESCAPES}allgood{ESCAPES}"
    path = tmp_path / "poisoned.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    return path


@pytest.mark.parametrize("output", ["text", "markdown", "github"])
def test_escape_bytes_from_the_cluster_never_reach_terminal_output(output: str, tmp_path: Path) -> None:
    path = _poisoned_scenario(tmp_path)
    verbose = ["-v"] if output == "text" else []  # the default text report shows the message's start only
    result = run_cli("check", "inventory", "-n", "shop", "--snapshot", str(path), "-o", output, *verbose)
    assert result.exit_code in (0, 1), result.stderr
    assert "allgood" in result.stdout  # the message is shown ...
    assert not any(character in result.stdout for character in "\x1b\x07\x9b\u202e")  # ... defused
    assert "x1b" in result.stdout


# -- atomic, private writes ------------------------------------------------------------------------


def test_write_text_is_atomic_private_and_does_not_follow_symlinks(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "out.yaml"
    link.symlink_to(victim)
    write_text(str(link), "recorded\n")
    assert victim.read_text() == "precious\n"  # the symlink was replaced, not followed
    assert not link.is_symlink() and link.read_text() == "recorded\n"
    assert stat.S_IMODE(link.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "recording.yaml"
    target.write_text("good\n")
    with pytest.raises(UnicodeEncodeError):
        write_text(str(target), "half \udcff broken")  # fails mid-write
    assert target.read_text() == "good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["recording.yaml"]
    with pytest.raises(InputError):
        write_text(str(tmp_path / "missing-dir" / "x"), "x")


def test_collect_node_output_is_private(tmp_path: Path) -> None:
    saved = tmp_path / "iptables.txt"
    # (one rule: collect node refuses to write a dump without any)
    saved.write_text("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 198.18.100.1/32 -j ACCEPT\nCOMMIT\n")
    out = tmp_path / "dump.yaml"
    out.symlink_to(tmp_path / "elsewhere")
    result = run_cli("collect", "node", "--node-name", "n1", "--iptables-save", str(saved), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert not (tmp_path / "elsewhere").exists()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and "NodeDump" in out.read_text()


# -- minimal recordings ----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("http://user:pw@backend:8080/v1?api_key=abc", f"http://{MASK}@backend:8080/{MASK}"),
    ("backend.shop:8080", "backend.shop:8080"),
    ("$(DB_HOST):5432", "$(DB_HOST):5432"),
    ("hunter2", MASK),
    ("123456", MASK),
    ("!!--**", MASK),
    ("--token=abc --kube-proxy-replacement=true", f"--token={MASK} --kube-proxy-replacement=true"),
    ("backend", "backend"),
])
def test_masked_values_keep_only_what_checks_read(value: str, expected: str) -> None:
    assert masked(value, frozenset({"backend"})) == expected


def test_minimal_drops_managed_fields_last_applied_and_unread_config_maps() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "namespace": "shop", "managedFields": [{"manager": "kubectl"}],
                        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{secret}"}},
           "spec": {"containers": [{"name": "c", "env": [{"name": "PASSWORD", "value": "hunter2"},
                                                         {"name": "FROM", "valueFrom": {"secretKeyRef": {}}}],
                                    "readinessProbe": {"httpGet": {"port": 80, "httpHeaders": [
                                        {"name": "Authorization", "value": "Bearer canary"}]}}}]}}
    read = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
            "data": {"Corefile": ".:53 {}"}}
    unread = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": "shop"},
              "data": {"password": "hunter2"}, "binaryData": {"key": "aHVudGVy"}}
    small_pod, small_read, small_unread = minimal([pod, read, unread])
    text = json.dumps([small_pod, small_unread])
    for word in ("hunter2", "managedFields", "last-applied", "canary", "aHVudGVy"):
        assert word not in text, word
    assert small_pod["spec"]["containers"][0]["env"][1]["valueFrom"] == {"secretKeyRef": {}}
    assert small_read["data"] == read["data"]
    assert pod["metadata"]["managedFields"]  # the input is not changed


def test_sd704_shows_env_values_masked() -> None:
    folder = SCENARIOS / "short-name-from-other-namespace"
    args = [str(a) for a in yaml.safe_load((folder / "scenario.yaml").read_text())["args"]]
    objects = [dict(obj) for obj in load_objects(str(folder / "snapshot.yaml"))]
    secret = "s3cr3t-canary"
    for obj in objects:
        for container in ((obj.get("spec") or {}).get("containers") or []):
            for variable in container.get("env") or []:
                if isinstance(variable.get("value"), str) and "://" in variable["value"]:
                    scheme, _, rest = variable["value"].partition("://")
                    variable["value"] = f"{scheme}://user:{secret}@{rest}?api_key={secret}"
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"sd704-{os.getpid()}.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    try:
        for output in ("json", "text", "markdown", "sarif"):
            result = run_cli(*args, "--snapshot", str(path), "-o", output)
            assert "SD704" in result.stdout, result.stderr
            assert secret not in result.stdout, output
    finally:
        path.unlink()


# -- bounded work ----------------------------------------------------------------------------------


def test_text_rendering_is_bounded_by_what_it_shows() -> None:
    """A finding over a Pod with a million ports renders in time linear in the report (it took minutes)."""
    pod = ObjectRef("Pod", "shop", "big")
    ports = [f"p{i}" for i in range(1_000_000)]
    finding = Finding("SD202", "named-target-port-missing", Severity.ERROR, 2, "missing",
                      "no port named web: " + ", ".join(ports),
                      evidence=tuple(Evidence(pod, f"spec.containers[0].ports[{i}]", name)
                                     for i, name in enumerate(ports[:200_000])), impact="unreachable")
    report = Report(Target("shop", "backend"), "unreachable", (finding,), (StepResult(2, "Ports", "fail"),))
    started = time.monotonic()
    render(report, "json")  # linear in the report: the yardstick on however loaded a machine
    linear = time.monotonic() - started
    for output in ("text", "markdown"):
        started = time.monotonic()
        render(report, output)
        assert time.monotonic() - started < 3 * linear + 1, output
    assert len(render(report, "text")) < 20_000


def test_input_files_and_stdin_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = SCENARIOS / "readiness-probe-failing" / "snapshot.yaml"
    monkeypatch.setenv("SVCDOCTOR_MAX_INPUT_MB", "0.01")  # 10 KiB; the file is larger
    for source in (str(snapshot), str(snapshot.parent)):
        result = run_cli("check", "inventory", "-n", "shop", "--snapshot", source)
        assert result.exit_code == 2 and "larger than 0.01 MiB" in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    piped = run_cli("check", "inventory", "-n", "shop", "--snapshot", "-", stdin=snapshot.read_bytes())
    assert piped.exit_code == 2 and "<stdin>" in piped.stderr
    monkeypatch.setenv("SVCDOCTOR_MAX_INPUT_MB", "64")
    assert run_cli("check", "inventory", "-n", "shop", "--snapshot", str(snapshot)).exit_code == 1


def test_api_answers_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that answers too much ends the run with one line (exit 3), per answer and per run."""
    from svcdoctor.serve.apiserver import SnapshotAPIServer
    from svcdoctor.sources import live

    objects = [dict(obj) for obj in load_objects(str(SCENARIOS / "readiness-probe-failing" / "snapshot.yaml"))]
    with SnapshotAPIServer(objects) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        assert run_cli("check", "inventory", "--kubeconfig", config).exit_code == 1
        monkeypatch.setattr(live, "MAX_RESPONSE_BYTES", 1024)
        result = run_cli("check", "inventory", "--kubeconfig", config)
        assert result.exit_code == 3 and "more than 0.000977 MiB (one page of a list)" in result.stderr
        assert result.stderr.count("\n") == 1
        monkeypatch.setattr(live, "MAX_RESPONSE_BYTES", 64 * 1024 * 1024)
        monkeypatch.setenv("SVCDOCTOR_MAX_INPUT_MB", "0.005")
        result = run_cli("check", "inventory", "--kubeconfig", config)
        assert result.exit_code == 3 and "beyond the run's input limit" in result.stderr, result.stderr


def test_error_lines_are_terminal_safe(tmp_path: Path) -> None:
    result = run_cli("check", "web", "--snapshot", str(tmp_path / "missing\x1b[2J.yaml"))
    assert result.exit_code == 2 and "\x1b" not in result.stderr and "\\x1b[2J" in result.stderr


def test_redact_command_works_offline_on_any_recording(tmp_path: Path) -> None:
    folder = SCENARIOS / "short-name-from-other-namespace"
    args = [str(a) for a in yaml.safe_load((folder / "scenario.yaml").read_text())["args"]]
    name, namespace = args[1], args[args.index("-n") + 1]
    out, mapping = tmp_path / "shared.json", tmp_path / "map.json"
    result = run_cli("redact", str(folder / "snapshot.yaml"), "-o", str(out), "-n", namespace, "--service", name,
                     "--redact-map", str(mapping))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and stat.S_IMODE(mapping.stat().st_mode) == 0o600
    names = json.loads(mapping.read_text())["names"]
    assert f"is {names[namespace]}/{names[name]} in the redacted file" in result.stderr
    text = out.read_text()
    assert f'"{name}"' not in text and f'"{namespace}"' not in text
    mapped = [names.get(arg, arg) if arg in (name, namespace) else arg for arg in args]
    if "--from" in args:
        position = args.index("--from") + 1
        mapped[position] = "/".join(names.get(part, part) for part in args[position].split("/"))
    before = run_cli(*args, "--snapshot", str(folder / "snapshot.yaml"), "-o", "json").json()
    after = run_cli(*mapped, "--snapshot", str(out), "-o", "json").json()
    assert [f["id"] for f in after["findings"]] == [f["id"] for f in before["findings"]]
    assert after["verdict"] == before["verdict"]
