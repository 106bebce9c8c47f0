"""``svcdoctor --help`` and offline runs must not import the heavy libraries.

The ``kubernetes`` client and scapy take a second or more to import; only the live source and
the probes need them, so they are imported inside that code. Each case runs in a fresh
interpreter and reports which of the modules got loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT, SCENARIOS

HEAVY = ("kubernetes", "scapy")
SNAPSHOT = str(SCENARIOS / "selector-label-renamed" / "snapshot.yaml")
COMMANDS = [
    ["--help"],
    ["check", "--help"],
    ["check", "backend", "-n", "shop", "--snapshot", SNAPSHOT],
    ["scan", "-A", "--snapshot", SNAPSHOT, "-o", "sarif"],
    ["checks"],
    ["explain", "SD301"],
]
#: Runs the commands one after another in one interpreter and says what each one added.
PROBE = """
import contextlib, io, json, sys
from svcdoctor.cli import run
heavy = set(json.loads(sys.argv[1]))
report = []
for args in json.loads(sys.argv[2]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = run(args)
    report.append([args, code, sorted({name.split('.')[0] for name in sys.modules} & heavy)])
print(json.dumps(report))
"""


def test_no_heavy_imports() -> None:
    completed = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY), json.dumps(COMMANDS)],
                               capture_output=True, text=True, timeout=300,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr
    for args, code, loaded in json.loads(completed.stdout):
        assert code in (0, 1), (args, code)
        assert loaded == [], f"svcdoctor {' '.join(args)} imported {loaded}"


def test_the_probe_sees_heavy_imports() -> None:
    """The issue's own test: ``-X importtime`` of ``--help`` lists typer (so it sees imports) but no heavy one."""
    completed = subprocess.run([sys.executable, "-X", "importtime", "-m", "svcdoctor", "--help"],
                               capture_output=True, text=True, timeout=120,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert completed.returncode == 0
    imported = {line.split("|")[-1].strip().split(".")[0] for line in completed.stderr.splitlines()
                if line.startswith("import time:")}
    assert "typer" in imported
    assert not imported & set(HEAVY)
