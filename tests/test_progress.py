"""Progress on stderr (issue 15, item 6): what is read and diagnosed, on a terminal only, erased before the report.

The command-line runs are real processes whose stderr is a pseudo-terminal (:func:`pty.openpty`);
``SVCDOCTOR_PROGRESS_AFTER=0`` makes the line appear from the start and every update drawn, so
what is asserted does not depend on how fast the machine is.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest
import yaml

from benchmarks.generate import generate
from svcdoctor.cli.progress import ERASE, TerminalProgress
from svcdoctor.engine import scan
from svcdoctor.serve.apiserver import SnapshotAPIServer
from svcdoctor.sources.files import load_objects
from svcdoctor.sources.manifests import ManifestsSource
from svcdoctor.sources.snapshot_file import SnapshotFileSource
from tests.conftest import ROOT, SCENARIOS

DEMO = str(ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml")


class Recorded:
    """A Progress that keeps everything it is told."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.notes: list[str] = []

    def show(self, text: str) -> None:
        self.shown.append(text)

    def note(self, line: str) -> None:
        self.notes.append(line)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def cluster_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 250 kB of YAML as kubectl writes it: 20 Services, 40 Pods."""
    path = tmp_path_factory.mktemp("progress") / "cluster.yaml"
    path.write_text(yaml.safe_dump(generate(services=20, pods_per_service=2, services_per_namespace=10)))
    return path


def _run(*args: str, terminal: bool = True, **environment: str | None) -> tuple[int, bytes, bytes]:
    """``svcdoctor ARGS`` in a fresh process, stdout a pipe, stderr a terminal (or a pipe): code, stdout, stderr."""
    env: dict[str, str | None] = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color",
                                  "SVCDOCTOR_PROGRESS_AFTER": "0", "CI": None, **environment}
    command = [sys.executable, "-m", "svcdoctor", *args]
    clean = {key: value for key, value in env.items() if value is not None}
    if not terminal:
        done = subprocess.run(command, capture_output=True, env=clean, stdin=subprocess.DEVNULL, timeout=120)
        return done.returncode, done.stdout, done.stderr
    controller, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))  # 400 columns: nothing cut
    seen = bytearray()

    def drain() -> None:  # a full pty would block the child
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=child, stdin=subprocess.DEVNULL, env=clean)
    os.close(child)
    stdout, _ = process.communicate(timeout=120)
    reader.join(timeout=30)
    os.close(controller)
    return process.returncode, stdout, bytes(seen)


# -- the terminal line ------------------------------------------------------------------------------


def test_the_line_waits_for_the_delay_and_redraws_at_most_ten_times_a_second() -> None:
    stream, clock = io.StringIO(), Clock()
    line = TerminalProgress(stream, delay=1.0, interval=0.1, width=100, clock=clock)
    for step in range(300):  # three seconds of updates every 10 ms
        clock.now = step / 100
        line.show(f"diagnosing Services: {step} of 300 done")
    drawn = stream.getvalue().split("\r")[1:]
    assert drawn[0] == "diagnosing Services: 100 of 300 done\x1b[K"  # nothing in the first second
    assert 19 <= len(drawn) <= 21
    line.close()
    assert stream.getvalue().endswith(ERASE)


def test_the_line_fits_the_terminal_and_shows_no_control_codes() -> None:
    stream = io.StringIO()
    line = TerminalProgress(stream, delay=0, interval=0, width=40)
    line.show("reading evil\x1b]0;owned\x07.yaml\nand a very long name that goes on and on and on")
    drawn = stream.getvalue()
    assert "\x1b]" not in drawn and "\\x1b]0;owned\\x07" in drawn and "\n" not in drawn
    assert len(drawn.removeprefix("\r").removesuffix("\x1b[K")) == 39


def test_a_note_erases_the_line_and_draws_it_again() -> None:
    stream = io.StringIO()
    line = TerminalProgress(stream, delay=0, interval=0, width=80)
    line.note("GET /api/v1/pods 200 3ms")  # nothing drawn yet: nothing to erase
    line.show("reading kind-dev: 3 requests in flight")
    line.note("GET /api/v1/nodes 200 4ms")
    line.close()
    line.close()
    assert stream.getvalue() == ("GET /api/v1/pods 200 3ms\n\rreading kind-dev: 3 requests in flight\x1b[K"
                                 + ERASE + "GET /api/v1/nodes 200 4ms\n\rreading kind-dev: 3 requests in flight"
                                 "\x1b[K" + ERASE)


# -- what the core says ------------------------------------------------------------------------------


def test_a_yaml_snapshot_says_how_many_megabytes_are_parsed(cluster_yaml: Path) -> None:
    told = Recorded()
    snapshot = SnapshotFileSource(str(cluster_yaml), told).load()
    parsed = [text for text in told.shown if text.startswith(f"parsing {cluster_yaml} (YAML): ")
              and text.endswith(" of 0.3 MB")]
    assert len(parsed) >= 3, told.shown  # every 100 kB, as libyaml reads
    assert parsed[-1] == f"parsing {cluster_yaml} (YAML): 0.3 MB of 0.3 MB"
    assert f"checking and indexing {len(load_objects(str(cluster_yaml)))} objects" in told.shown
    assert snapshot.services


def test_a_json_snapshot_and_a_scan_say_what_they_do(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(generate(services=6, pods_per_service=1, services_per_namespace=3)))
    told = Recorded()
    snapshot = SnapshotFileSource(str(path), told).load()
    assert told.shown[:2] == [f"reading {path}", f"parsing {path} (JSON, 0.1 MB)"]
    told.shown.clear()
    reports = scan(snapshot, None, progress=told)
    assert told.shown == [f"diagnosing Services: {done} of 6 done" for done in range(6)]
    assert len(reports) == 6


def test_manifests_say_which_file_and_document() -> None:
    folder = SCENARIOS / "manifests-service-deployment-separate-files" / "manifests"
    told = Recorded()
    ManifestsSource(str(folder), progress=told).load()
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    assert len(files) > 1
    assert any(text.startswith(f"reading {files[1]} (file 2 of {len(files)}, ") and text.endswith(": document 1")
               for text in told.shown), told.shown


# -- the command line, stderr a terminal ---------------------------------------------------------------


def test_a_scan_on_a_terminal_shows_parsing_and_diagnosis_then_erases_it(cluster_yaml: Path) -> None:
    code, stdout, seen = _run("scan", "-A", "--snapshot", str(cluster_yaml), "-o", "json")
    assert code == 1 and json.loads(stdout)["summary"]["services"] == 20  # stdout stays pure JSON
    assert b"(YAML): 0.3 MB of 0.3 MB" in seen and b"diagnosing Services: 19 of 20 done" in seen
    assert b"writing the json report of 20 Services" in seen
    assert b"\n" not in seen and seen.endswith(ERASE.encode())


def test_an_error_line_starts_on_a_clean_line(tmp_path: Path, cluster_yaml: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(cluster_yaml.read_text() + "- kind: [\n")
    code, stdout, seen = _run("check", "app-001", "-n", "team-000", "--snapshot", str(broken))
    assert code == 2 and stdout == b""
    status, _, error = seen.partition(b"svcdoctor: error: ")
    assert b"parsing" in status and status.endswith(ERASE.encode()) and b"invalid YAML" in error


def test_manifests_on_a_terminal() -> None:
    folder = SCENARIOS / "manifests-service-deployment-separate-files" / "manifests"
    code, stdout, seen = _run("scan", "--manifests", str(folder), "-o", "json")
    assert stdout.startswith(b"{") and code in (0, 1)
    assert b"(file 2 of " in seen and seen.endswith(ERASE.encode())


def test_record_on_a_terminal_shows_requests_in_flight(tmp_path: Path) -> None:
    with SnapshotAPIServer(load_objects(DEMO)) as api:
        kubeconfig = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="shop")
        code, stdout, seen = _run("record", "backend", "--kubeconfig", kubeconfig, "-o", str(tmp_path / "rec.json"))
    assert code == 0 and stdout == b"" and json.loads((tmp_path / "rec.json").read_text())["kind"] == "List"
    assert b"requests in flight" in seen and b"kinds read" in seen
    status, _, summary = seen.partition(b"svcdoctor: recorded ")
    assert status.endswith(ERASE.encode()) and summary.endswith(b"\r\n")


@pytest.mark.parametrize("how", ["CI=true", "--no-progress", "stderr a pipe"])
def test_nothing_in_ci_with_no_progress_or_through_a_pipe(how: str, cluster_yaml: Path) -> None:
    args = ["scan", "-A", "--snapshot", str(cluster_yaml), "-o", "json"]
    code, stdout, seen = _run(*args, *(["--no-progress"] if how == "--no-progress" else []),
                              terminal=how != "stderr a pipe", CI="true" if how == "CI=true" else None)
    assert code == 1 and json.loads(stdout)["summary"]["services"] == 20
    assert seen == b""


def test_a_bad_delay_is_one_line() -> None:
    code, _, seen = _run("demo", SVCDOCTOR_PROGRESS_AFTER="soon")
    assert code == 2
    assert seen == b"svcdoctor: error: SVCDOCTOR_PROGRESS_AFTER must be a number of seconds, not 'soon'\r\n"
