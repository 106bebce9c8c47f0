"""A kubeconfig is an input file: a broken one is one line naming it and exit 2, however it is named
(``--kubeconfig`` or ``KUBECONFIG``); ``insecure-skip-tls-verify`` is said once, not per request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from svcdoctor.serve.apiserver import SnapshotAPIServer
from svcdoctor.testing.tls import self_signed_certificate
from tests.conftest import ROOT, run_cli
from tests.test_live import build_cluster, require_openssl

CONTEXT = {"name": "a", "context": {"cluster": "c", "user": "u"}}
CLUSTER = {"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}
USER = {"name": "u", "user": {}}

BROKEN = {
    # name: (file text, words the error line must hold)
    "not-yaml": ("apiVersion: v1\nclusters: [\n  - name: x\n", ":3: not a valid kubeconfig"),
    "a-string": ("just a string\n", "holds a string, not a mapping"),
    "a-list": ("- a\n- b\n", "holds a list, not a mapping"),
    "context-is-a-string": (yaml.safe_dump({"current-context": "a", "contexts": [{"name": "a", "context": "x"}]}),
                            "has the wrong shape"),
    "user-is-a-string": (yaml.safe_dump({"current-context": "a", "contexts": [CONTEXT], "clusters": [CLUSTER],
                                         "users": [{"name": "u", "user": "x"}]}), "has the wrong shape"),
    "cluster-is-a-string": (yaml.safe_dump({"current-context": "a", "contexts": [CONTEXT],
                                            "clusters": [{"name": "c", "cluster": "x"}], "users": [USER]}),
                            "has no server URL"),
    "server-without-scheme": (yaml.safe_dump({"current-context": "a", "contexts": [CONTEXT], "users": [USER],
                                              "clusters": [{"name": "c", "cluster": {"server": "127.0.0.1:1"}}]}),
                              "has no server URL (https://HOST:PORT), it has '127.0.0.1:1'"),
    "ca-data-not-a-certificate": (yaml.safe_dump({
        "current-context": "a", "contexts": [CONTEXT], "users": [USER],
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1",
                                               "certificate-authority-data": "bm90IGEgY2VydGlmaWNhdGU="}}]}),
        "cannot use the TLS settings of context 'a'"),
}


def _one_line_exit_2(result: object, *words: str) -> str:
    exit_code, stdout, stderr = result.exit_code, result.stdout, result.stderr  # type: ignore[attr-defined]
    assert exit_code == 2, stderr
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("svcdoctor: error: "), stderr
    assert "internal error" not in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_kubeconfig_is_bad_input_by_flag_and_by_variable(case: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    text, words = BROKEN[case]
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    _one_line_exit_2(run_cli("check", "backend", "-n", "shop", "--kubeconfig", str(path)), words)
    monkeypatch.setenv("KUBECONFIG", str(path))
    _one_line_exit_2(run_cli("check", "backend", "-n", "shop"), words)


def test_the_invalid_yaml_line_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(BROKEN["not-yaml"][0])
    _one_line_exit_2(run_cli("dns", "backend", "-n", "shop", "--kubeconfig", str(path)), f"{path}:3: ")


def test_a_missing_kubeconfig_is_exit_2_by_flag_and_by_variable(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    missing = str(tmp_path / "missing")
    _one_line_exit_2(run_cli("check", "backend", "--kubeconfig", missing), missing, "no such kubeconfig file")
    monkeypatch.setenv("KUBECONFIG", f"{missing}{os.pathsep}{missing}-too")
    _one_line_exit_2(run_cli("check", "backend"), f"KUBECONFIG={missing}", "no such kubeconfig file")


def test_skipping_tls_verification_is_said_once(tmp_path: Path) -> None:
    """A real process: urllib3's InsecureRequestWarning goes to the real stderr once per request."""
    require_openssl()
    cert, key = self_signed_certificate(str(tmp_path))
    with SnapshotAPIServer(build_cluster(), tls=(cert, key)) as api:
        config = api.kubeconfig(namespace="shop")
        config["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        result = subprocess.run([sys.executable, "-m", "svcdoctor", "check", "backend", "--kubeconfig", str(path)],
                                capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "InsecureRequestWarning" not in result.stderr
    assert result.stderr == (f"svcdoctor: warning: context 'snapshot' skips TLS verification "
                             f"(insecure-skip-tls-verify): the identity of {api.url} is not checked\n")
