"""Benchmark: scan a 50,000-line rendered chart (about 2,000 objects) given as --manifests.

Generates a Helm-style stream (``# Source:`` comments, ``---`` separators) of N apps, each a
ServiceAccount, a ConfigMap, a Service, a Deployment, an Ingress and a NetworkPolicy in one
namespace (the worst
case for per-namespace look-ups), with every 25th Service's selector mistyped so that the SD301
near-miss search runs too. Then times ``svcdoctor scan --manifests FILE -o json`` twice: in-process
(reading, positions, stand-in Pods, every check over every Service, rendering) and as a fresh
process (adds interpreter start-up and imports). The target is under 3 s. Wall-clock and CPU
seconds are both printed: on a shared machine the CPU time is the figure that does not depend on
what else runs. Each figure is the fastest of ``--repeat`` runs.

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
# Source: platform/templates/{name}/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/instance: platform
    app.kubernetes.io/managed-by: Helm
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


def in_process(path: str) -> tuple[float, float, dict]:
    from svcdoctor.cli import run

    buffer = io.StringIO()
    started, cpu_started = time.perf_counter(), time.process_time()
    with redirect_stdout(buffer):
        code = run(["scan", "-n", "platform", "--manifests", path, "-o", "json"])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert code in (0, 1), code
    return seconds, cpu, json.loads(buffer.getvalue())


def fresh_process(path: str) -> tuple[float, float]:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "svcdoctor", "scan", "-n", "platform", "--manifests", path,
                             "-o", "json"], capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            cwd=str(ROOT))
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert result.returncode in (0, 1), result.stderr
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=330, help="apps (6 objects each); 330 ≈ 50,000 lines")
    parser.add_argument("--keep", help="also write the generated chart here")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the fastest counts")
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

        loads = []
        for _ in range(args.repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            snapshot = ManifestsSource(path, default_namespace="platform").load()
            loads.append((time.perf_counter() - started, time.process_time() - cpu_started))
        load_seconds, load_cpu = min(loads)
        runs = [in_process(path) for _ in range(args.repeat)]
        seconds, cpu, document = min(runs, key=lambda run: run[0])
        process_seconds, process_cpu = min(fresh_process(path) for _ in range(args.repeat))
    finally:
        os.unlink(path)
    summary = document["summary"]
    print(f"chart: {lines:,} lines, {len(text) / 1e6:.1f} MB, {objects:,} objects "
          f"({len(snapshot.services)} Services, {len(snapshot.pods)} stand-in Pods)")
    print(f"read + positions + stand-in Pods: {load_seconds:.2f} s wall, {load_cpu:.2f} s CPU")
    print(f"scan in-process (read, every check on every Service, JSON): {seconds:.2f} s wall, {cpu:.2f} s CPU")
    print(f"scan as a fresh process (adds start-up and imports): {process_seconds:.2f} s wall, "
          f"{process_cpu:.2f} s CPU")
    print(f"verdicts: {summary}")
    print(f"machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    worst = max(cpu, process_cpu)
    print(f"target < {TARGET_SECONDS:.0f} s (CPU): {'met' if worst < TARGET_SECONDS else 'MISSED'}")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
