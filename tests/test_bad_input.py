"""Bad input never surfaces as a traceback: one line on stderr naming the file, exit code 2.

Exit 1 means "findings" to a CI gate, so an input error must never end as 1; and nothing may
reach stdout, where a CI job would take it for a report. A hypothesis fuzz test feeds the loader
random bytes and mutated real snapshots (truncated, bytes flipped, keys deleted, types changed).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, SCENARIOS, CliResult, require, run_cli

SNAPSHOT = SCENARIOS / "selector-label-renamed" / "snapshot.yaml"
CHECK = ("check", "backend", "-n", "shop")


def assert_input_error(result: CliResult, *mentions: str) -> str:
    """Exit 2, nothing on stdout, exactly one line on stderr that names ``mentions``; return it."""
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.stdout[:200])
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    assert lines[0].startswith("svcdoctor: error: "), lines[0]
    assert "internal error" not in lines[0], lines[0]
    for mention in mentions:
        assert mention in lines[0], (mention, lines[0])
    return lines[0]


def check_file(path: Path, *extra: str) -> CliResult:
    return run_cli(*CHECK, "--snapshot", str(path), *extra)


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _snapshot_text(limit: int) -> str:
    return SNAPSHOT.read_text()[:limit]


BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]" for previous, name in zip("abcdefgh", "bcdefghi",
                                                                                       strict=True)]
    + ["kind: List", "items: [*i]"]) + "\n"

#: name → (file name, content, text the one-line error must contain besides the path). That text is
#: svcdoctor's own wording or the line it names, never a library's message: PyYAML ≥ 6.0.4 refuses
#: deep nesting itself ("invalid YAML: …") before svcdoctor's own depth check can.
BAD_FILES: dict[str, tuple[str, str | bytes, tuple[str, ...]]] = {
    "malformed-yaml": ("bad.yaml", "apiVersion: v1\nkind: List\nitems:\n  - kind: Service\n    metadata: {name: x\n",
                       ("invalid YAML", ":6:")),
    "tab-indented-yaml": ("tabs.yaml", "kind: Service\nmetadata:\n\tname: x\n", ("invalid YAML", ":3:")),
    "truncated-yaml": ("truncated.yaml", _snapshot_text(2000).rsplit('"', 1)[0] + '"unterminated',
                       ("invalid YAML",)),
    "truncated-json": ("truncated.json", '{"apiVersion": "v1", "kind": "List", "items": [{"kind": "Service", '
                                         '"metadata": {"name": "a"', ("invalid JSON", ":1:")),
    "json-list-of-numbers": ("numbers.json", "[1, 2, 3]\n", ("not a Kubernetes object",)),
    "yaml-scalar": ("scalar.yaml", "just a sentence\n", ("string, not a Kubernetes object",)),
    "json-null": ("null.json", "null\n", ("no Kubernetes objects",)),
    "list-item-scalar": ("items.yaml", "apiVersion: v1\nkind: List\nitems:\n- 42\n", ("item 1", "number")),
    "items-not-a-list": ("items2.yaml", "apiVersion: v1\nkind: List\nitems: {a: 1}\n", ("items is not a list",)),
    "no-kind": ("nokind.yaml", "apiVersion: v1\nmetadata: {name: x}\n", ("no 'kind'",)),
    "no-metadata": ("nometa.yaml", "apiVersion: v1\nkind: Service\nspec: {}\n", ("no 'metadata'",)),
    "metadata-not-a-map": ("meta.yaml", "apiVersion: v1\nkind: Pod\nmetadata: [x]\n", ("no 'metadata'",)),
    "no-name": ("noname.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {namespace: x}\n", ("no metadata.name",)),
    "binary": ("binary.yaml", bytes(range(256)) * 8, ("binary",)),
    "latin-1": ("latin1.yaml", "kind: Service\nmetadata: {name: caf\xe9}\n".encode("latin-1"), ("not UTF-8",)),
    "empty": ("empty.yaml", "", ("empty",)),
    "only-whitespace": ("blank.yaml", "\n   \n\t\n", ("empty",)),
    "only-comments": ("comments.yaml", "# recorded by hand\n# nothing yet\n---\n# still nothing\n",
                      ("no Kubernetes objects",)),
    "deep-flow-yaml": ("deep.yaml", "a: " + "[" * 50_000 + "]" * 50_000 + "\n", ("deep.yaml:1:",)),
    "deep-block-yaml": ("deep-block.yaml", "a:\n" + "- " * 50_000 + "x\n", ("deep-block.yaml:2:",)),
    "deep-json": ("deep.json", '{"a": ' * 50_000 + "1" + "}" * 50_000, ("nested too deeply",)),
    "billion-laughs": ("bomb.yaml", BILLION_LAUGHS, ("alias bomb",)),
    "unknown-evidence-kind": ("unknown.yaml", "apiVersion: svcdoctor.dev/v1\nkind: Frobnicate\n",
                              ("unknown svcdoctor.dev/v1 kind 'Frobnicate'",)),
    "node-dump-without-node": ("dump.yaml", "apiVersion: svcdoctor.dev/v1\nkind: NodeDump\nproxyMode: iptables\n",
                               ("NodeDump",)),
    "node-dump-bad-mode": ("dump2.yaml", "apiVersion: svcdoctor.dev/v1\nkind: NodeDump\nmetadata: {name: n}\n"
                                         "proxyMode: userspace\n", ("proxyMode 'userspace'",)),
    "node-dump-rules-not-text": ("dump3.yaml", "apiVersion: svcdoctor.dev/v1\nkind: NodeDump\nmetadata: {name: n}\n"
                                               "iptablesSave: [a, b]\n", ("iptablesSave must be text",)),
    "dns-answer-bad-rcode": ("dns.yaml", "apiVersion: svcdoctor.dev/v1\nkind: DNSAnswer\nquery: {name: x}\n"
                                         "rcode: MAYBE\n", ("rcode 'MAYBE'",)),
    "dns-answer-no-query": ("dns2.yaml", "apiVersion: svcdoctor.dev/v1\nkind: DNSAnswer\nrcode: NOERROR\n",
                            ("DNSAnswer has no 'query'",)),
    "dns-answer-answers-not-list": ("dns3.yaml", "apiVersion: svcdoctor.dev/v1\nkind: DNSAnswer\nquery: {name: x}\n"
                                                 "rcode: NOERROR\nanswers: 10.0.0.1\n", ("answers must be a list",)),
    "probe-port-not-number": ("probe.yaml", "apiVersion: svcdoctor.dev/v1\nkind: ProbeResult\n"
                                            "to: {ip: 10.0.0.1, port: http}\nresult: open\n", ("to.port",)),
    "probe-bad-result": ("probe2.yaml", "apiVersion: svcdoctor.dev/v1\nkind: ProbeResult\n"
                                        "to: {ip: 10.0.0.1, port: 80}\nresult: maybe\n", ("result 'maybe'",)),
    "probe-no-target": ("probe3.yaml", "apiVersion: svcdoctor.dev/v1\nkind: ProbeResult\nresult: open\n",
                        ("ProbeResult has no 'to'",)),
    "snapshot-info-bad-time": ("info.yaml", "apiVersion: svcdoctor.dev/v1\nkind: SnapshotInfo\n"
                                            "capturedAt: yesterday\n", ("capturedAt",)),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file(case: str, tmp_path: Path) -> None:
    name, content, mentions = BAD_FILES[case]
    path = _write(tmp_path, name, content)
    assert_input_error(check_file(path), str(path), *mentions)
    assert_input_error(run_cli("scan", "-A", "--snapshot", str(path)), str(path), *mentions)


def test_bad_file_on_stdin() -> None:
    assert_input_error(run_cli(*CHECK, "--snapshot", "-", stdin="kind: [\n"), "<stdin>", "invalid YAML")
    assert_input_error(run_cli(*CHECK, "--snapshot", "-", stdin=b""), "<stdin>", "empty")


def test_bad_file_in_a_directory_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(SNAPSHOT.read_text())
    bad = _write(tmp_path, "zz-bad.yaml", "kind: Service\nmetadata: {name: [\n")
    assert_input_error(check_file(tmp_path), str(bad), "invalid YAML")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    assert_input_error(check_file(path), str(path), "no such file")
    dangling = tmp_path / "dangling.yaml"
    dangling.symlink_to(tmp_path / "gone.yaml")
    assert_input_error(check_file(dangling), str(dangling), "no such file")


def test_path_through_a_file_and_an_empty_directory(tmp_path: Path) -> None:
    plain = _write(tmp_path, "plain.yaml", SNAPSHOT.read_text())
    assert_input_error(check_file(plain / "inside.yaml"), str(plain / "inside.yaml"))
    empty = tmp_path / "empty-dir"
    empty.mkdir()
    assert_input_error(check_file(empty), str(empty), "no .yaml")


def test_unreadable_file(tmp_path: Path) -> None:
    """A file the process may not read. Root reads mode 000 anyway, so as root the CLI runs in a
    child whose DAC-override capabilities are dropped (setpriv), which makes the mode count."""
    path = _write(tmp_path, "secret.yaml", SNAPSHOT.read_text())
    path.chmod(0)
    if os.geteuid() != 0:
        assert_input_error(check_file(path), str(path), "permission denied")
        return
    require(shutil.which("setpriv") is not None, "setpriv (util-linux) is needed to drop root's DAC override")
    caps = "-dac_override,-dac_read_search"
    completed = subprocess.run(
        ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", sys.executable, "-m", "svcdoctor", *CHECK,
         "--snapshot", str(path)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert_input_error(CliResult(completed.returncode, completed.stdout, completed.stderr), str(path),
                       "permission denied")


@pytest.mark.parametrize(("args", "mentions"), [
    (("-o", "pdf"), ("--output", "'pdf'")),
    (("--output", "SARIF"), ("--output",)),
    (("--fail-on", "critical"), ("--fail-on", "'critical'")),
    (("--no-such-flag",), ("--no-such-flag",)),
    (("--from", "a/b/c"), ("--from",)),
    (("--from-ip", "not-an-ip"), ("--from-ip",)),
    (("--probe-timeout", "soon"), ("--probe-timeout",)),
])
def test_bad_usage(args: tuple[str, ...], mentions: tuple[str, ...]) -> None:
    assert_input_error(run_cli(*CHECK, "--snapshot", str(SNAPSHOT), *args), *mentions)


@pytest.mark.parametrize(("args", "mentions"), [
    (("check", "Back_end!", "-n", "shop"), ("Service name", "'Back_end!'")),
    (("check", "backend", "-n", "Shop/x"), ("namespace", "'Shop/x'")),
    (("check", "backend", "-n", "shop", "--from", "Web/frontend"), ("--from",)),
    (("check", "backend", "-n", "shop", "--cluster-domain", "bad..x"), ("--cluster-domain", "'bad..x'")),
    (("check", "backend", "-n", "shop", "--cluster-domain", "Bad_Domain"), ("--cluster-domain",)),
    (("dns", "backend", "-n", "shop", "--cluster-domain", "bad..x"), ("--cluster-domain", "'bad..x'")),
    (("check", "backend", "-n", "shop", "--max-probes", "-1"), ("--max-probes", "-1")),
    (("check", "backend", "-n", "shop", "--probe-timeout", "0"), ("--probe-timeout",)),
    (("check", "backend", "-n", "shop", "--probe-timeout", "nan"), ("--probe-timeout",)),
    (("dns", "backend", "-n", "shop", "--probe-timeout", "-2"), ("--probe-timeout",)),
])
@pytest.mark.parametrize("mode", ["--snapshot", "--manifests"])
def test_what_live_mode_refuses_every_mode_refuses(args: tuple[str, ...], mentions: tuple[str, ...],
                                                   mode: str) -> None:
    # A user's review: snapshot and manifests mode took names and values a live read refuses.
    if args[0] == "dns" and mode == "--manifests":
        return
    assert_input_error(run_cli(*args, mode, str(SNAPSHOT)), *mentions)


@pytest.mark.parametrize(("value", "mentions"), [
    ("Web/frontend", ("namespace 'Web'", "not a valid Kubernetes name")),
    ("shop/Frontend_1", ("Pod name 'Frontend_1'", "not a valid Kubernetes name")),
    ("deploy/Front", ("Deployment name 'Front'",)),
])
def test_an_invalid_client_name_is_called_invalid_not_missing(value: str, mentions: tuple[str, ...]) -> None:
    line = assert_input_error(run_cli(*CHECK, "--snapshot", str(SNAPSHOT), "--from", value), *mentions)
    assert "not in the" not in line


def test_reach_calls_an_invalid_pod_name_invalid() -> None:
    line = assert_input_error(run_cli("reach", "--snapshot", str(SNAPSHOT), "--pod", "shop/Nope_1"),
                              "--pod 'shop/Nope_1'", "Pod name 'Nope_1' is not a valid Kubernetes name")
    assert "no such Pod" not in line
    assert_input_error(run_cli("reach", "--snapshot", str(SNAPSHOT), "--pod", "nope"), "expected NAMESPACE/POD")
    assert_input_error(run_cli("reach", "--snapshot", str(SNAPSHOT), "--pod", "shop/nope"), "no such Pod")


def test_scan_of_a_namespace_the_snapshot_does_not_have(tmp_path: Path) -> None:
    assert_input_error(run_cli("scan", "-n", "nosuchns", "--snapshot", str(SNAPSHOT)), "nosuchns",
                       "not in the snapshot")
    assert_input_error(run_cli("scan", "-n", "shp", "--snapshot", str(SNAPSHOT)), "did you mean shop")
    # A recording that says it listed Services in an empty namespace: that namespace exists, with none.
    document = yaml.safe_load(SNAPSHOT.read_text())
    document["items"].append({"apiVersion": "svcdoctor.dev/v1", "kind": "SnapshotInfo",
                              "recorded": [{"kind": "Service", "namespaces": ["shop", "quiet"]}]})
    recorded = _write(tmp_path, "recorded.yaml", yaml.safe_dump(document))
    empty = run_cli("scan", "-n", "quiet", "--snapshot", str(recorded))
    assert empty.exit_code == 0 and "0 Service(s)" in empty.stdout, empty.stderr


def test_a_snapshot_directory_is_not_searched_below_its_top_level(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "snapshot.yaml").write_text(SNAPSHOT.read_text())
    assert_input_error(check_file(tmp_path), str(tmp_path), "not a snapshot", "top level")
    (tmp_path / "snapshot.yaml").write_text(SNAPSHOT.read_text())
    # The nested copy is not read: it would have been the same objects twice (a duplicate).
    assert check_file(tmp_path).exit_code == 1


def test_redact_refuses_a_service_or_namespace_the_recording_lacks(tmp_path: Path) -> None:
    out = str(tmp_path / "out.yaml")
    assert_input_error(run_cli("redact", str(SNAPSHOT), "-o", out, "-n", "shop", "--service", "nosuch"),
                       "--service nosuch", "no such Service")
    assert_input_error(run_cli("redact", str(SNAPSHOT), "-o", out, "-n", "shop", "--service", "backnd"),
                       "did you mean backend")
    assert_input_error(run_cli("redact", str(SNAPSHOT), "-o", out, "-n", "nons"), "-n nons")
    assert not (tmp_path / "out.yaml").exists()
    assert run_cli("redact", str(SNAPSHOT), "-o", out, "-n", "shop", "--service", "backend").exit_code == 0


def test_a_name_that_is_a_number_is_named_as_such(tmp_path: Path) -> None:
    path = _write(tmp_path, "numbered.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: 123, namespace: shop}\n"
                  "spec: {selector: {app: web}, ports: [{port: 80}]}\n")
    for mode in ("--snapshot", "--manifests"):
        assert_input_error(run_cli("check", "web", "-n", "shop", mode, str(path)),
                           "metadata.name is a number (123), not a string")


def test_a_cluster_domain_with_a_trailing_dot_is_the_same_domain() -> None:
    plain = run_cli(*CHECK, "--snapshot", str(SNAPSHOT), "--cluster-domain", "cluster.local", "-o", "json")
    dotted = run_cli(*CHECK, "--snapshot", str(SNAPSHOT), "--cluster-domain", "cluster.local.", "-o", "json")
    assert dotted.exit_code == plain.exit_code
    assert dotted.json()["findings"] == plain.json()["findings"]


def test_bad_usage_of_other_commands() -> None:
    assert_input_error(run_cli("scan", "--snapshot", str(SNAPSHOT), "-A", "-o", "pdf"), "'pdf'")
    assert_input_error(run_cli("scan", "--snapshot", str(SNAPSHOT)), "-A")
    assert_input_error(run_cli("checks", "-o", "xml"), "'xml'")
    assert_input_error(run_cli("explain", "SD999"), "SD999")
    assert_input_error(run_cli("no-such-command"), "no-such-command")
    assert_input_error(run_cli("check"), "'NAME'")


def test_output_is_checked_before_the_file_is_read(tmp_path: Path) -> None:
    """A bad -o is reported as such even when the snapshot is fine and findings exist."""
    result = run_cli(*CHECK, "--snapshot", str(SNAPSHOT), "-o", "nope")
    assert_input_error(result, "--output")


# -- fuzzing ----------------------------------------------------------------------------------


def _base_document() -> dict[str, Any]:
    return yaml.safe_load(SNAPSHOT.read_text())


BASE = _base_document()
BASE_YAML = SNAPSHOT.read_bytes()
BASE_JSON = json.dumps(BASE).encode()
REPLACEMENTS = st.one_of(st.none(), st.integers(-5, 70000), st.text(max_size=8), st.booleans(),
                         st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.text(max_size=3),
                                                                             max_size=2), st.floats(allow_nan=True))


def _containers(node: Any, found: list[Any]) -> list[Any]:
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            _containers(value, found)
    elif isinstance(node, list):
        found.append(node)
        for value in node:
            _containers(value, found)
    return found


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    document = copy.deepcopy(BASE)
    # Half the time aim at what the diagnosis reads first: the Services and their endpoints.
    focus = draw(st.booleans())
    for _ in range(draw(st.integers(1, 4))):
        if focus:
            containers = []
            for item in document.get("items") or []:
                if isinstance(item, dict) and item.get("kind") in ("Service", "EndpointSlice", "Endpoints"):
                    _containers(item, containers)
        else:
            containers = _containers(document, [])
        if not containers:
            break
        target = containers[draw(st.integers(0, len(containers) - 1))]
        if not target:
            continue
        if isinstance(target, dict):
            key = draw(st.sampled_from(sorted(target, key=str)))
            if draw(st.booleans()):
                del target[key]
            else:
                target[key] = draw(REPLACEMENTS)
        else:
            index = draw(st.integers(0, len(target) - 1))
            if draw(st.booleans()):
                del target[index]
            else:
                target[index] = draw(REPLACEMENTS)
    if draw(st.booleans()):
        return json.dumps(document).encode()
    return yaml.safe_dump(document).encode()


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([BASE_YAML, BASE_JSON])))
    operation = draw(st.sampled_from(["truncate", "flip", "delete", "insert"]))
    position = draw(st.integers(0, len(data) - 1))
    if operation == "truncate":
        return bytes(data[:position])
    if operation == "flip":
        for _ in range(draw(st.integers(1, 8))):
            index = draw(st.integers(0, len(data) - 1))
            data[index] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    if operation == "delete":
        return bytes(data[:position] + data[position + draw(st.integers(1, 200)):])
    return bytes(data[:position] + draw(st.binary(min_size=1, max_size=20)) + data[position:])


INPUTS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.text(alphabet="{}[]:,-&*!|>'\"# \n\tabk01", max_size=200).map(str.encode),
    mutated_bytes(),
    mutated_documents(),
)


def _assert_well_behaved(result: CliResult) -> None:
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    if result.exit_code == 2:
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1, result.stderr
    else:
        assert result.stderr == "", result.stderr
        json.loads(result.stdout)
        # A check that crashed is reported as "unknown" with this reason; odd input must not crash one.
        assert "internal error" not in result.stdout, result.stdout


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(INPUTS)
def test_fuzz_loader(data: bytes) -> None:
    _assert_well_behaved(run_cli(*CHECK, "--snapshot", "-", "-o", "json", stdin=data))


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_documents())
def test_fuzz_scan(data: bytes) -> None:
    _assert_well_behaved(run_cli("scan", "-A", "--snapshot", "-", "-o", "json", stdin=data))
