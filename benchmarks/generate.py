"""A deterministic generator of large snapshots, for the benchmarks.

The objects are :class:`svcdoctor.testing.cluster.ClusterBuilder`'s: what ``kubectl get -o json``
prints, with EndpointSlices and Endpoints written by its controller play. The builder's
controller compares every Service with every object it holds, so the cluster is built one
namespace at a time (each namespace its own builder, with its own slice of the Pod and Service
address ranges) and the namespaces are joined: the same shapes, in linear time.

Most Services are healthy; a few in every namespace carry the faults users meet (a relabelled
selector, a typo in a label value, crash-looping, unready or terminating Pods), so the checks have work.

    python benchmarks/generate.py -o /tmp/big.json                     # 5,000 Services, 50,000 Pods
    python benchmarks/generate.py --services 500 --format yaml -o /tmp/small.yaml
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcdoctor.testing.cluster import ClusterBuilder

NOW = "2026-11-20T10:00:00Z"
NODES = 50
#: A namespace's share of the Pod network (/21: 2,046 addresses) and of the Service range (/24).
POD_PREFIX = 21
SERVICE_PREFIX = 24


def _nodes(builder: ClusterBuilder, count: int) -> None:
    for index in range(count):
        builder.node(f"node-{index:03d}", f"172.18.{index // 250}.{index % 250 + 2}",
                     zone=f"zone-{'abc'[index % 3]}")


def _namespace(index: int, services: int, pods_per_service: int) -> list[dict[str, Any]]:
    name = f"team-{index:03d}"
    pod_network = list(ipaddress.IPv4Network("10.0.0.0/8").subnets(new_prefix=POD_PREFIX))[index + 1]
    service_network = list(ipaddress.IPv4Network("10.96.0.0/12").subnets(new_prefix=SERVICE_PREFIX))[index + 1]
    if pod_network.num_addresses - 2 < services * pods_per_service:
        raise SystemExit(f"{services * pods_per_service} Pods do not fit a /{POD_PREFIX} per namespace")
    builder = ClusterBuilder(now=NOW, pod_cidr=str(pod_network), service_cidr=str(service_network))
    _nodes(builder, NODES)
    builder.namespace(name, {"team": f"team-{index:03d}", "tier": "prod" if index % 2 else "staging"})
    probe = {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"}, "periodSeconds": 10,
             "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
    for number in range(services):
        app = f"app-{number:03d}"
        ports = [{"name": "http", "containerPort": 8080}]
        containers = [builder.container(app, f"registry.example.com/{name}/{app}:1.{number % 7}.0", ports, probe)]
        labels = {"app": app, "team": name}
        fault = number % 25
        template_labels = None
        states = None
        replicas = pods_per_service
        if fault == 3:  # the Pods were relabelled; the Service still selects the old label
            template_labels = {"app": f"{app}-v2", "team": name}
        elif fault == 7:
            states = ["crashloop"] * pods_per_service
        elif fault == 11:
            states = ["notready"] * pods_per_service
        elif fault == 17:
            states = ["running"] * (pods_per_service - 1) + ["terminating"]
        elif fault == 19:  # a one-letter typo in the template's label value
            template_labels = {"app": app.replace("app-", "apq-"), "team": name}
        builder.deployment(name, app, labels, containers, replicas=replicas, states=states,
                           template_labels=template_labels)
        builder.service(name, app, labels, [{"name": "http", "port": 80, "targetPort": "http"}],
                        labels={"app": app})
    return [obj for obj in builder.build() if obj["kind"] != "Node"]


def generate(services: int = 5000, pods_per_service: int = 10, services_per_namespace: int = 50) -> dict[str, Any]:
    """The snapshot as a ``v1 List``: the same every time for the same arguments."""
    head = ClusterBuilder(now=NOW)
    head.snapshot_info(context="bench", server_version="v1.31.2")
    _nodes(head, NODES)
    items = list(head.build())
    namespaces = -(-services // services_per_namespace)
    for index in range(namespaces):
        count = min(services_per_namespace, services - index * services_per_namespace)
        items.extend(_namespace(index, count, pods_per_service))
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def write(document: dict[str, Any], path: str, output_format: str) -> None:
    with open(path, "w") as handle:
        if output_format == "json":
            json.dump(document, handle, separators=(",", ":"))
        else:
            import yaml

            base: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

            class Dumper(base):
                """No anchors and aliases: kubectl never writes them (the builder shares some dicts)."""

                def ignore_aliases(self, data: Any) -> bool:
                    return True

            yaml.dump(document, handle, Dumper=Dumper, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--pods-per-service", type=int, default=10)
    parser.add_argument("--services-per-namespace", type=int, default=50)
    parser.add_argument("--format", choices=("json", "yaml"), default="json")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    document = generate(args.services, args.pods_per_service, args.services_per_namespace)
    write(document, args.output, args.format)
    kinds: dict[str, int] = {}
    for item in document["items"]:
        kinds[item["kind"]] = kinds.get(item["kind"], 0) + 1
    size = Path(args.output).stat().st_size
    print(f"wrote {args.output}: {size / 1e6:.1f} MB, " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))


if __name__ == "__main__":
    main()
