"""Benchmark: read a Cilium agent's service list and trace every Service in it, at growing scale.

N Services (one in four a NodePort, frontends on 0.0.0.0 and the node address) × 3 ready
endpoints, printed as ``cilium-dbg service list`` of Cilium 1.18 prints them (by
:mod:`svcdoctor.testing.ciliumlist`, from EndpointSlices as the agent reads them). For each size:
the time to parse the text, and the time to trace every Service's ClusterIP and NodePort
frontends against its ready endpoints (what SD806 does for one Service, done for all). The
target: 5,000 Services parsed and traced in under 1 s. Best of three runs, in CPU seconds of this
process (the machine is shared: wall time there measures the neighbours) and in wall seconds.

Run: python benchmarks/cilium_bench.py [--sizes 1250,2500,5000,10000] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUNS = 3
TARGET_SECONDS = 1.0


def _objects(count: int) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for index in range(count):
        namespace, name = f"team-{index % 50}", f"svc-{index}"
        cluster_ip = f"10.96.{index // 250}.{index % 250 + 1}"
        port: dict[str, Any] = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}
        if index % 4 == 0:
            port["nodePort"] = 30000 + index // 4
        objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": namespace, "name": name},
                        "spec": {"type": "NodePort" if index % 4 == 0 else "ClusterIP", "clusterIP": cluster_ip,
                                 "clusterIPs": [cluster_ip], "ports": [port]}})
        endpoints = []
        for replica in range(3):
            number = index * 3 + replica
            endpoints.append({"addresses": [f"10.{64 + number // 65000}.{number // 250 % 260}.{number % 250 + 1}"],
                              "conditions": {"ready": True, "serving": True, "terminating": False},
                              "nodeName": f"node-{replica}",
                              "targetRef": {"kind": "Pod", "namespace": namespace, "name": f"{name}-{replica}"}})
        objects.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                        "metadata": {"namespace": namespace, "name": f"{name}-abcde",
                                     "labels": {"kubernetes.io/service-name": name}},
                        "endpoints": endpoints, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
    return objects


def measure(count: int) -> dict[str, Any]:
    from svcdoctor.checks.sd806_cilium_service_map import problems_for
    from svcdoctor.dataplane import cilium
    from svcdoctor.endpoints import service_endpoints
    from svcdoctor.snapshot import Snapshot
    from svcdoctor.testing.ciliumlist import service_list

    objects = _objects(count)
    text = service_list(objects, version="1.18", node_addresses=["172.18.0.2"])
    snapshot = Snapshot(objects)
    services = [(obj, service_endpoints(snapshot, obj["metadata"]["namespace"], obj["metadata"]["name"]))
                for obj in objects if obj["kind"] == "Service"]
    best_parse = best_trace = best_wall = float("inf")
    problems = -1
    for _ in range(RUNS):
        cilium.parse_address.cache_clear()
        wall, started = time.perf_counter(), time.process_time()
        parsed = cilium.parse(text)
        parsed_at = time.process_time()
        problems = sum(len(problems_for(service, endpoints, parsed)) for service, endpoints in services)
        finished = time.process_time()
        best_parse, best_trace = min(best_parse, parsed_at - started), min(best_trace, finished - parsed_at)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return {"services": count, "frontends": len(parsed.frontends), "lines": text.count("\n"),
            "parse_cpu_s": round(best_parse, 3), "trace_cpu_s": round(best_trace, 3),
            "total_cpu_s": round(best_parse + best_trace, 3), "wall_s": round(best_wall, 3), "problems": problems}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1250,2500,5000,10000")
    parser.add_argument("--check", action="store_true", help="exit 1 when 5,000 Services take 1 s or more")
    arguments = parser.parse_args(argv)
    results = [measure(int(size)) for size in arguments.sizes.split(",")]
    for result in results:
        print(json.dumps(result))
    at_target = [result for result in results if result["services"] == 5000]
    if arguments.check and at_target and at_target[0]["total_cpu_s"] >= TARGET_SECONDS:
        sys.exit(1)


if __name__ == "__main__":
    main()
