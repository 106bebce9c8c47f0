"""Benchmark: scan a 50,000-line rendered chart (about 2,000 objects) given as --manifests.

Generates a Helm-style stream (``# Source:`` comments, ``---`` separators) of N apps, each a
Deployment, a Service, a ConfigMap, an Ingress and a NetworkPolicy in one namespace (the worst
case for per-namespace look-ups), with every 25th Service's selector mistyped so that the SD301
near-miss search runs too. Then times ``svcdoctor scan --manifests FILE -o json`` twice: in-process
(reading, positions, stand-in Pods, every check over every Service, rendering) and as a fresh
process (adds interpreter start-up and imports). The target is under 3 s.

Run: python benchmarks/manifests_bench.py [--apps 400] [--keep FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 3.0

APP = """\
---
# Source: platform/templates/{name}/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/instance: platform
    app.kubernetes.io/managed-by: Helm
data:
  LOG_LEVEL: info
  UPSTREAM: http://{upstream}.platform.svc.cluster.local
---
# Source: platform/templates/{name}/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/instance: platform
    app.kubernetes.io/managed-by: Helm
    helm.sh/chart: platform-4.2.0
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: {selector}
    app.kubernetes.io/instance: platform
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
    - name: metrics
      port: 9090
      targetPort: metrics
      protocol: TCP
---
# Source: platform/templates/{name}/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/instance: platform
    app.kubernetes.io/managed-by: Helm
    helm.sh/chart: platform-4.2.0
spec:
  replicas: 3
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
      app.kubernetes.io/instance: platform
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
        app.kubernetes.io/instance: platform
        app.kubernetes.io/managed-by: Helm
      annotations:
        checksum/config: 3f1c0b7d9e2a4c6b8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e
    spec:
      serviceAccountName: {name}
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
      containers:
        - name: {name}
          image: "registry.example.com/platform/{name}:1.{index}.0"
          imagePullPolicy: IfNotPresent
          args: ["--listen=:8080", "--metrics=:9090"]
          envFrom:
            - configMapRef:
                name: {name}-config
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
            - name: metrics
              containerPort: 9090
              protocol: TCP
          readinessProbe:
            httpGet:
              path: /ready
              port: http
            periodSeconds: 5
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
          resources:
            requests:
              cpu: 50m
              memory: 64Mi
            limits:
              memory: 256Mi
---
# Source: platform/templates/{name}/ingress.yaml
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/instance: platform
spec:
  ingressClassName: nginx
  rules:
    - host: {name}.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {name}
                port:
                  name: http
---
# Source: platform/templates/{name}/networkpolicy.yaml
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: {name}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/instance: platform
      ports:
        - port: http
"""


def chart(apps: int) -> str:
    parts = []
    for index in range(apps):
        name = f"svc-{index:04d}"
        selector = name if index % 25 else f"svc-{index:04d}x"  # every 25th: a typo → SD301
        parts.append(APP.format(name=name, selector=selector, index=index, upstream=f"svc-{(index + 1) % apps:04d}"))
    return "".join(parts)


def in_process(path: str) -> tuple[float, dict]:
    from svcdoctor.cli import run

    buffer = io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(buffer):
        code = run(["scan", "-n", "platform", "--manifests", path, "-o", "json"])
    seconds = time.perf_counter() - started
    assert code in (0, 1), code
    return seconds, json.loads(buffer.getvalue())


def fresh_process(path: str) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "svcdoctor", "scan", "-n", "platform", "--manifests", path,
                             "-o", "json"], capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            cwd=str(ROOT))
    seconds = time.perf_counter() - started
    assert result.returncode in (0, 1), result.stderr
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=400, help="apps (5 objects each); 400 ≈ 50,000 lines")
    parser.add_argument("--keep", help="also write the generated chart here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    text = chart(args.apps)
    lines = text.count("\n")
    objects = text.count("\nkind: ")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(text)
        path = handle.name
    if args.keep:
        Path(args.keep).write_text(text)
    try:
        from svcdoctor.sources.manifests import ManifestsSource

        started = time.perf_counter()
        snapshot = ManifestsSource(path, default_namespace="platform").load()
        load_seconds = time.perf_counter() - started
        seconds, document = in_process(path)
        process_seconds = fresh_process(path)
    finally:
        os.unlink(path)
    summary = document["summary"]
    print(f"chart: {lines:,} lines, {len(text) / 1e6:.1f} MB, {objects:,} objects "
          f"({len(snapshot.services)} Services, {len(snapshot.pods)} stand-in Pods)")
    print(f"read + positions + stand-in Pods: {load_seconds:.2f} s")
    print(f"scan in-process (read, every check on every Service, JSON): {seconds:.2f} s")
    print(f"scan as a fresh process (adds start-up and imports): {process_seconds:.2f} s")
    print(f"verdicts: {summary}")
    worst = max(seconds, process_seconds)
    print(f"target < {TARGET_SECONDS:.0f} s: {'met' if worst < TARGET_SECONDS else 'MISSED'}")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
