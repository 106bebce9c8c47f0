"""What a Cilium agent's ``cilium-dbg service list`` prints for a set of cluster objects.

Plays the agent's service sync the way Cilium does it: each Service port gets a frontend per
ClusterIP, LoadBalancer ingress IP and externalIP, and (for NodePort and LoadBalancer Services)
``0.0.0.0:nodePort`` plus one per node address; its backends are the EndpointSlice endpoints
carrying that port — ready ones ``active``, serving terminating ones ``terminating``. Written as
Go's tabwriter writes the table (minimum width 5, padding 3), in the format of the Cilium release
asked for (see :mod:`svcdoctor.dataplane.cilium`).

``agent_view`` lets a test say what the agent believes instead (an address it never updated, a
backend it quarantined): that is the only way the map and the API differ in a real cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from svcdoctor import k8s

Obj = dict[str, Any]


def _address(ip: str, port: int, protocol: str, with_protocol: bool) -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return f"{host}:{port}" + (f"/{protocol}" if with_protocol else "")


def _table(rows: list[list[str]], trailing: bool) -> str:
    widths: dict[int, int] = {}
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths.get(index, 5 - 3), len(cell))
    lines = []
    for row in rows:
        line = "".join(cell.ljust(widths[index] + 3) for index, cell in enumerate(row))
        lines.append(line if trailing else line.rstrip())
    return "\n".join(lines) + "\n"


def service_list(objects: Iterable[Obj], *, version: str = "1.16", node_addresses: Iterable[str] = (),
                 agent_view: Mapping[str, str] | None = None, skip: Iterable[str] = ()) -> str:
    """The text ``cilium-dbg service list`` prints (Cilium ``version``: ``1.13`` … ``1.18``).

    ``agent_view`` maps a backend IP to what the agent holds instead: another IP (an update it
    missed) or a state (``quarantined``, ``maintenance``); ``skip`` names Services
    (``namespace/name``) the agent never synced.
    """
    minor = int(version.split(".")[1])
    with_state, with_protocol = minor >= 14, minor >= 17
    objects = list(objects)
    view = dict(agent_view or {})
    skipped = set(skip)
    slices: dict[tuple[str, str], list[Obj]] = {}
    for obj in objects:
        if obj.get("kind") == "EndpointSlice":
            owner = k8s.labels(obj).get("kubernetes.io/service-name", "")
            slices.setdefault((k8s.namespace(obj), owner), []).append(obj)
    rows = [["ID", "Frontend", "Service Type", "Backend"]]
    number = 0
    for service in (obj for obj in objects if obj.get("kind") == "Service"):
        key = (k8s.namespace(service), k8s.name(service))
        spec = k8s.spec(service)
        if f"{key[0]}/{key[1]}" in skipped or k8s.is_headless(service) or spec.get("type") == "ExternalName":
            continue
        ingress = [str(item.get("ip")) for item in k8s.as_list(k8s.as_map(k8s.status(service).get("loadBalancer"))
                                                               .get("ingress")) if item.get("ip")]
        for port in k8s.service_ports(service):
            protocol = str(port.get("protocol") or "TCP")
            backends = []
            for item in slices.get(key, []):
                numbers = [int(p.get("port")) for p in k8s.as_list(item.get("ports"))
                           if str(p.get("name") or "") == str(port.get("name") or "") and p.get("port")]
                for endpoint in k8s.as_list(item.get("endpoints")):
                    conditions = k8s.as_map(endpoint.get("conditions"))
                    ready = conditions.get("ready") is not False
                    state = "active" if ready else "terminating" if (
                        conditions.get("serving") and conditions.get("terminating")) else ""
                    for ip in k8s.as_list(endpoint.get("addresses"))[:1]:
                        for target in numbers:
                            held = view.get(str(ip), "")
                            if held and "." not in held and ":" not in held:
                                backends.append((str(ip), target, held))
                            elif state:
                                backends.append((held or str(ip), target, state))
            frontends = [(ip, int(port["port"]), "ClusterIP") for ip in
                         (k8s.as_list(spec.get("clusterIPs")) or [spec.get("clusterIP")])]
            frontends += [(ip, int(port["port"]), "ExternalIPs") for ip in k8s.as_list(spec.get("externalIPs"))]
            if spec.get("type") in ("NodePort", "LoadBalancer") and port.get("nodePort"):
                frontends += [(ip, int(port["nodePort"]), "NodePort") for ip in ("0.0.0.0", *node_addresses)]
            if spec.get("type") == "LoadBalancer":
                frontends += [(ip, int(port["port"]), "LoadBalancer") for ip in ingress]
            for ip, frontend_port, kind in frontends:
                number += 1
                cells = [f"{index} => {_address(ip_, target, protocol, with_protocol)}"
                         + (f" ({state})" if with_state else "")
                         for index, (ip_, target, state) in enumerate(sorted(backends), 1)]
                first = cells[0] if cells else ""
                rows.append([str(number), _address(str(ip), frontend_port, protocol, with_protocol), kind, first])
                rows.extend(["", "", "", cell] for cell in cells[1:])
    return _table(rows, trailing=not with_protocol)


def cilium_cluster(builder: Any, nodes: Mapping[str, str], version: str = "1.16.3") -> None:
    """The kube-system part of a kube-proxy-free Cilium install as its Helm chart makes it: the
    ``cilium`` DaemonSet with a Pod per node and the ``cilium-config`` ConfigMap."""
    labels = {"k8s-app": "cilium"}
    agent = builder.container("cilium-agent", f"quay.io/cilium/cilium:v{version}", command=["cilium-agent"],
                              args=["--config-dir=/tmp/cilium/config-map"], securityContext={"privileged": True})
    count = len(nodes)
    daemon_set = builder.add({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": builder._meta("DaemonSet", "kube-system", "cilium", labels, generation=1),
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [agent], "hostNetwork": True, "serviceAccountName": "cilium"}}},
        "status": {"currentNumberScheduled": count, "desiredNumberScheduled": count, "numberAvailable": count,
                   "numberReady": count, "numberMisscheduled": 0, "observedGeneration": 1,
                   "updatedNumberScheduled": count},
    })
    for node in nodes:
        builder.pod("kube-system", f"cilium-{node[-1]}x7kq", labels, [agent], node=node, owner=daemon_set,
                    host_network=True)
    builder.add({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": builder._meta("ConfigMap", "kube-system", "cilium-config", None),
                 "data": {"kube-proxy-replacement": "true", "routing-mode": "tunnel", "tunnel-protocol": "vxlan",
                          "cluster-pool-ipv4-cidr": "10.244.0.0/16"}})
