"""Kustomization directories: rendered with the real ``kubectl kustomize``, findings at the source lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import require, run_cli

BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
    - port: 80
      targetPort: htp
"""


def _layout(root: Path, overlay_extra: str = "") -> Path:
    (root / "base").mkdir(parents=True)
    (root / "base" / "app.yaml").write_text(BASE)
    (root / "base" / "kustomization.yaml").write_text("resources:\n- app.yaml\n")
    overlay = root / "overlays" / "prod"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text(
        "resources:\n- ../../base\nnamePrefix: prod-\nnamespace: shop\n"
        "configMapGenerator:\n- name: settings\n  literals: [mode=prod]\n" + overlay_extra)
    return overlay


def test_an_overlay_is_rendered_and_findings_point_at_the_base_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                    ) -> None:
    require(shutil.which("kubectl") is not None, "kubectl is not on the PATH")
    monkeypatch.chdir(tmp_path)
    _layout(tmp_path)
    result = run_cli("check", "prod-web", "-n", "shop", "--manifests", "overlays/prod", "-o", "json")
    assert result.exit_code == 1, result.stderr
    report = result.json()
    first = report["findings"][0]
    assert first["id"] == "SD202"
    # The Service came from base/app.yaml (through namePrefix and namespace): its targetPort line there.
    assert first["location"] == {"path": "base/app.yaml", "line": BASE.splitlines().index("      targetPort: htp") + 1}
    assert not any("config.kubernetes.io/origin" in str(e) for f in report["findings"] for e in f["evidence"])
    scan = run_cli("scan", "--manifests", "overlays/prod", "-o", "json")
    assert [r["target"] for r in scan.json()["reports"]] == [{"namespace": "shop", "name": "prod-web"}]


def test_a_remote_base_is_refused_in_one_line(tmp_path: Path) -> None:
    overlay = _layout(tmp_path, "components:\n- https://github.com/example/app//components/tls?ref=v1.0.0\n")
    result = run_cli("scan", "--manifests", str(overlay))
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert "remote base 'https://github.com/example/app//components/tls?ref=v1.0.0'" in line
    assert "does not use the network" in line and f"kubectl kustomize {overlay} | svcdoctor" in line


def test_without_kubectl_the_error_says_what_to_pipe_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    overlay = _layout(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("sys.argv", ["svcdoctor", "scan", "-n", "shop", "--manifests", str(overlay)])
    result = run_cli("scan", "-n", "shop", "--manifests", str(overlay))
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert f"kubectl kustomize {overlay} | svcdoctor scan -n shop --manifests -" in line


def test_a_kustomization_kubectl_cannot_build_is_bad_input(tmp_path: Path) -> None:
    require(shutil.which("kubectl") is not None, "kubectl is not on the PATH")
    overlay = _layout(tmp_path, "patches:\n- path: missing-patch.yaml\n")
    result = run_cli("scan", "--manifests", str(overlay))
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert "kubectl kustomize failed" in line and "missing-patch.yaml" in line
