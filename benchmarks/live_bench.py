"""One live ``check`` against the snapshot API server with injected latency, vs. the manual walk.

svcdoctor reads in parallel rounds, so its wall time should be about two round trips of latency
(three when the selector matches nothing and near misses are wanted), however many requests it
makes. The manual walk of the Kubernetes "Debug Services" page is a sequence of kubectl commands,
each paying its own round trips (and the first one the discovery requests).

    python benchmarks/live_bench.py [--latency 0.05] [--deployments 20]

Prints the request count, rounds and wall time of both, measured against the same server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from svcdoctor.testing.cluster import ClusterBuilder  # noqa: E402

#: The Debug Services page's walk for Service backend in shop, as kubectl commands (no exec: the
#: page's nslookup / wget from inside a Pod is replaced by reading the objects they depend on).
MANUAL_WALK: tuple[tuple[str, ...], ...] = (
    ("get", "service", "backend", "-n", "shop"),                                   # 1 does it exist?
    ("get", "service", "backend", "-n", "shop", "-o", "json"),                     # 2 defined correctly?
    ("get", "pods", "-n", "shop", "-l", "app=backend", "-o", "wide"),              # 3 selector selects?
    ("describe", "pods", "-n", "shop", "-l", "app=backend"),                       # 4 running and ready?
    ("get", "endpointslices", "-n", "shop", "-l", "kubernetes.io/service-name=backend"),  # 5 endpoints?
    ("get", "networkpolicies", "-n", "shop", "-o", "yaml"),                        # 6 policy allows it?
    ("get", "service", "kube-dns", "-n", "kube-system"),                           # 7 DNS
    ("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns"),
    ("get", "endpointslices", "-n", "kube-system", "-l", "kubernetes.io/service-name=kube-dns"),
    ("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-proxy", "-o", "wide"),  # 8 kube-proxy
    ("get", "nodes", "-o", "wide"),
    ("get", "events", "-n", "shop", "--field-selector", "involvedObject.kind=Service,involvedObject.name=backend"),
)


def build(deployments: int) -> list[dict]:
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("shop")
    b.namespace("kube-system")
    for index in range(3):
        b.node(f"node-{index}", f"172.18.0.{index + 2}", zone=f"zone-{index % 2}")
    http = [{"name": "http", "containerPort": 8080}]
    b.deployment("shop", "backend", {"app": "backend"}, [b.container("backend", "example/backend:2", http)],
                 replicas=3)
    b.service("shop", "backend", {"app": "backend"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    for index in range(deployments):
        name = f"app-{index}"
        b.deployment("shop", name, {"app": name}, [b.container(name, f"example/{name}:1", http)], replicas=3)
        b.service("shop", name, {"app": name}, [{"name": "http", "port": 80, "targetPort": "http"}])
    dns = [{"name": "dns", "containerPort": 53, "protocol": "UDP"}]
    b.deployment("kube-system", "coredns", {"k8s-app": "kube-dns"}, [b.container("coredns", "coredns:1.11", dns)])
    b.service("kube-system", "kube-dns", {"k8s-app": "kube-dns"},
              [{"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"}])
    for index in range(3):
        b.pod("kube-system", f"kube-proxy-{index}", {"k8s-app": "kube-proxy"},
              [b.container("kube-proxy", "kube-proxy:v1.31")], node=f"node-{index}", host_network=True)
    return b.build()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(snapshot: str, kubeconfig: str, latency: float) -> subprocess.Popen[bytes]:
    """``svcdoctor snapshot serve`` in its own process: it must not share a GIL with the client."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "svcdoctor", "snapshot", "serve", snapshot, "--port", str(port),
                                "--latency", str(latency), "--write-kubeconfig", kubeconfig, "-n", "shop"],
                               env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if os.path.exists(kubeconfig):
                    return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the snapshot server did not start")


def svcdoctor_in_process(kubeconfig: str, runs: int) -> tuple[int, list[float], int, str]:
    from svcdoctor.engine import diagnose_service
    from svcdoctor.sources.interface import Request
    from svcdoctor.sources.live import LiveSource

    LiveSource(kubeconfig=kubeconfig).default_namespace()  # import the client before timing
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        source = LiveSource(kubeconfig=kubeconfig)
        result = source.read(Request(namespace="shop", service="backend"))
        report = diagnose_service(result.snapshot(), "shop", "backend", source=source.describe())
        times.append(time.perf_counter() - started)
    return result.requests, times, result.rounds, report.verdict


def svcdoctor_cli(kubeconfig: str) -> tuple[int, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "svcdoctor", "check", "backend", "-n", "shop", "--kubeconfig",
                           kubeconfig, "-o", "json", "--verbose"], env=env, capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - started
    return sum(line.startswith("GET ") for line in done.stderr.splitlines()), elapsed


def manual_walk(kubeconfig: str, home: str) -> tuple[int, int, float]:
    env = {**os.environ, "KUBECONFIG": kubeconfig, "HOME": home}
    requests = 0
    started = time.perf_counter()
    for command in MANUAL_WALK:
        # -v=6 logs every request kubectl makes (discovery included) to stderr.
        done = subprocess.run(["kubectl", "-v=6", *command], env=env, capture_output=True, text=True, check=False)
        requests += len(re.findall(r"\bGET https?://", done.stderr))
    return len(MANUAL_WALK), requests, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every answer")
    parser.add_argument("--deployments", type=int, default=20, help="extra Deployments+Services in shop")
    parser.add_argument("--runs", type=int, default=5, help="timed in-process runs (the median is printed)")
    args = parser.parse_args()
    objects = build(args.deployments)
    with tempfile.TemporaryDirectory() as directory:
        snapshot = str(Path(directory) / "snapshot.json")
        Path(snapshot).write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
        kubeconfig = str(Path(directory) / "kubeconfig")
        server = start_server(snapshot, kubeconfig, args.latency)
        try:
            print(f"cluster: {len(objects)} objects; {args.latency * 1000:.0f} ms latency per request; "
                  f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
            requests, times, rounds, verdict = svcdoctor_in_process(kubeconfig, args.runs)
            median = statistics.median(times)
            print(f"svcdoctor check (in-process, client imported; median of {args.runs}): {requests} requests in "
                  f"{rounds} rounds, {median * 1000:.0f} ms wall = {median / args.latency:.1f}× the latency "
                  f"(min {min(times) * 1000:.0f} ms; verdict {verdict}); floor {rounds} round trips = "
                  f"{rounds * args.latency * 1000:.0f} ms, the same requests one after another ≥ "
                  f"{requests * args.latency * 1000:.0f} ms")
            cli_requests, cli_seconds = svcdoctor_cli(kubeconfig)
            print(f"svcdoctor check (one CLI process, cold: Python start and importing the kubernetes client "
                  f"included): {cli_requests} requests, {cli_seconds:.2f} s wall")
            if shutil.which("kubectl") is None:
                print("manual walk: kubectl not on PATH, skipped")
                return 0
            commands, walk_requests, walk_seconds = manual_walk(kubeconfig, directory)
            print(f"manual Debug Services walk with kubectl: {commands} commands, {walk_requests} requests, "
                  f"{walk_seconds:.2f} s wall (sequential; the first command also runs discovery)")
        finally:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
