"""The Table form of a list or get, as the real API server answers ``kubectl get``.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the
columns the server sends; a server that answers with plain JSON gets only NAME and AGE. These
are the columns (names, types, priorities) and cell values of the API server's own printers for
the kinds a Service's diagnosis reads: Pods (READY, STATUS, RESTARTS, AGE; IP, NODE, NOMINATED
NODE, READINESS GATES with ``-o wide``), Services, Endpoints, EndpointSlices, NetworkPolicies,
Nodes, Events, Namespaces, Deployments and ReplicaSets; other kinds get NAME and AGE.

Ages are measured from the snapshot's ``capturedAt`` when it has one (a replay shows the
cluster as it was recorded), else from the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from svcdoctor import k8s

Obj = dict[str, Any]

#: Kinds whose table does not start with the name (the server prints an Event's name last, with ``-o wide``).
UNNAMED = frozenset({"Event"})
#: The ``includeObject`` values the real server accepts (``Metadata`` is its default).
INCLUDE_OBJECT = ("None", "Metadata", "Object")


@dataclass(frozen=True)
class Column:
    name: str
    #: ``string`` | ``integer`` | ``date``.
    type: str = "string"
    #: 0: always shown; 1: only with ``-o wide``.
    priority: int = 0
    format: str = ""

    def definition(self) -> Obj:
        return {"name": self.name, "type": self.type, "format": self.format, "description": "",
                "priority": self.priority}


def table_version(accept: str) -> str | None:
    """``v1`` or ``v1beta1`` when the Accept header asks for a Table (in its order of preference), else None."""
    for media in accept.split(","):
        parameters = {}
        for part in media.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            parameters[key] = value
        if parameters.get("as") == "Table" and parameters.get("g") == "meta.k8s.io" \
                and parameters.get("v") in ("v1", "v1beta1"):
            return parameters["v"]
    return None


def to_table(kind: str, api_version: str, objects: Sequence[Obj], list_metadata: Obj, *, version: str,
             include_object: str, now: datetime) -> Obj:
    """The Table of ``objects`` (items of a list of ``kind``, or one object got by name)."""
    columns, cells = PRINTERS.get(kind, (_DEFAULT_COLUMNS, _default_cells))
    named = kind not in UNNAMED
    rows = []
    for obj in objects:
        row: Obj = {"cells": [k8s.name(obj), *cells(obj, now)] if named else cells(obj, now)}
        if include_object == "Object":
            row["object"] = {**obj, "kind": kind, "apiVersion": api_version}
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj.get("metadata") or {}}
        rows.append(row)
    definitions = ((Column("Name", format="name"),) if named else ()) + columns
    return {"kind": "Table", "apiVersion": f"meta.k8s.io/{version}", "metadata": dict(list_metadata),
            "columnDefinitions": [column.definition() for column in definitions], "rows": rows}


# -- shared cell values ---------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """An age as kubectl prints it (``k8s.io/apimachinery/pkg/util/duration.HumanDuration``)."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y{rest}d" if rest else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _age(value: Any, now: datetime) -> str:
    moment = k8s.parse_time(value)
    return "<unknown>" if moment is None else human_duration((now - moment).total_seconds())


def _created(obj: Obj, now: datetime) -> str:
    return _age(k8s.meta(obj).get("creationTimestamp"), now)


def _or_none(values: Sequence[str]) -> str:
    return ",".join(values) if values else "<none>"


def _selector_text(selector: Any) -> str:
    """A LabelSelector (matchLabels and matchExpressions) as kubectl prints it."""
    selector = k8s.as_map(selector)
    parts = [f"{key}={value}" for key, value in sorted(k8s.as_map(selector.get("matchLabels")).items())]
    for expression in k8s.as_list(selector.get("matchExpressions")):
        expression = k8s.as_map(expression)
        key, operator = str(expression.get("key") or ""), str(expression.get("operator") or "")
        values = ",".join(str(v) for v in k8s.as_list(expression.get("values")))
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key,
                      "DoesNotExist": f"!{key}"}.get(operator, key))
    return ",".join(parts)


# -- Pods -------------------------------------------------------------------------------------------


def _pod_cells(pod: Obj, now: datetime) -> list[Any]:
    spec, status = k8s.as_map(pod.get("spec")), k8s.as_map(pod.get("status"))
    containers = k8s.as_list(spec.get("containers"))
    reason = str(status.get("reason") or status.get("phase") or "")
    restarts = 0
    last_restart: datetime | None = None
    ready = 0
    initializing = False
    init_statuses = [k8s.as_map(s) for s in k8s.as_list(status.get("initContainerStatuses"))]
    for index, container in enumerate(init_statuses):
        restarts += int(container.get("restartCount") or 0)
        state = k8s.as_map(container.get("state"))
        terminated, waiting = k8s.as_map(state.get("terminated")), k8s.as_map(state.get("waiting"))
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            reason = "Init:" + str(terminated.get("reason") or f"ExitCode:{terminated.get('exitCode')}")
        elif waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + str(waiting["reason"])
        else:
            reason = f"Init:{index}/{len(k8s.as_list(spec.get('initContainers')))}"
        initializing = True
        break
    if not initializing:
        has_running = False
        for container in reversed([k8s.as_map(s) for s in k8s.as_list(status.get("containerStatuses"))]):
            restarts += int(container.get("restartCount") or 0)
            finished = k8s.parse_time(k8s.as_map(k8s.as_map(container.get("lastState")).get("terminated"))
                                      .get("finishedAt"))
            if finished is not None and (last_restart is None or finished > last_restart):
                last_restart = finished
            state = k8s.as_map(container.get("state"))
            waiting, terminated = k8s.as_map(state.get("waiting")), k8s.as_map(state.get("terminated"))
            if waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated.get("reason"):
                reason = str(terminated["reason"])
            elif terminated:
                signal = terminated.get("signal")
                reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode')}"
            elif state.get("running") and container.get("ready"):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running"
    if k8s.meta(pod).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    restart_text = str(restarts)
    if restarts and last_restart is not None:
        restart_text += f" ({human_duration((now - last_restart).total_seconds())} ago)"
    gates = k8s.as_list(spec.get("readinessGates"))
    true_conditions = {str(k8s.as_map(c).get("type")) for c in k8s.as_list(status.get("conditions"))
                       if k8s.as_map(c).get("status") == "True"}
    gates_text = "<none>"
    if gates:
        met = sum(1 for gate in gates if str(k8s.as_map(gate).get("conditionType")) in true_conditions)
        gates_text = f"{met}/{len(gates)}"
    return [f"{ready}/{len(containers)}", reason, restart_text, _created(pod, now),
            str(status.get("podIP") or "<none>"), str(spec.get("nodeName") or "<none>"),
            str(status.get("nominatedNodeName") or "<none>"), gates_text]


_POD_COLUMNS = (Column("Ready"), Column("Status"), Column("Restarts"), Column("Age"), Column("IP", priority=1),
                Column("Node", priority=1), Column("Nominated Node", priority=1),
                Column("Readiness Gates", priority=1))


# -- Services and their endpoints ------------------------------------------------------------------------


def _service_cells(service: Obj, now: datetime) -> list[Any]:
    spec = k8s.as_map(service.get("spec"))
    kind = str(spec.get("type") or "ClusterIP")
    external = [str(ip) for ip in k8s.as_list(spec.get("externalIPs"))]
    if kind == "LoadBalancer":
        ingress = [k8s.as_map(i) for i in k8s.as_list(k8s.as_map(k8s.as_map(service.get("status"))
                                                                    .get("loadBalancer")).get("ingress"))]
        external += [str(i.get("ip") or i.get("hostname")) for i in ingress if i.get("ip") or i.get("hostname")]
        external_text = ",".join(external) if external else "<pending>"
    elif kind == "ExternalName":
        external_text = str(spec.get("externalName") or "<none>")
    else:
        external_text = _or_none(external)
    ports = []
    for port in (k8s.as_map(p) for p in k8s.as_list(spec.get("ports"))):
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        ports.append(f"{port.get('port')}{node_port}/{port.get('protocol') or 'TCP'}")
    selector = [f"{key}={value}" for key, value in sorted(k8s.as_map(spec.get("selector")).items())]
    return [kind, str(spec.get("clusterIP") or "<none>"), external_text, _or_none(ports), _created(service, now),
            _or_none(selector)]


_SERVICE_COLUMNS = (Column("Type"), Column("Cluster-IP"), Column("External-IP"), Column("Port(s)"), Column("Age"),
                    Column("Selector", priority=1))


def _first_three(addresses: Sequence[str]) -> str:
    if not addresses:
        return "<none>"
    shown = ",".join(addresses[:3])
    return shown + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")


def _endpoints_cells(endpoints: Obj, now: datetime) -> list[Any]:
    addresses = []
    for subset in (k8s.as_map(s) for s in k8s.as_list(endpoints.get("subsets"))):
        ports = [k8s.as_map(p).get("port") for p in k8s.as_list(subset.get("ports"))] or [None]
        for address in (k8s.as_map(a) for a in k8s.as_list(subset.get("addresses"))):
            addresses += [f"{address.get('ip')}:{port}" if port is not None else str(address.get("ip"))
                          for port in ports]
    return [_first_three(addresses), _created(endpoints, now)]


def _endpoint_slice_cells(slice_: Obj, now: datetime) -> list[Any]:
    ports = [str(k8s.as_map(p).get("port")) for p in k8s.as_list(slice_.get("ports"))
             if k8s.as_map(p).get("port") is not None]
    addresses = [str(address) for endpoint in k8s.as_list(slice_.get("endpoints"))
                 for address in k8s.as_list(k8s.as_map(endpoint).get("addresses"))]
    endpoints_text = _first_three(addresses) if addresses else "<unset>"
    return [str(slice_.get("addressType") or ""), ",".join(ports) if ports else "<unset>", endpoints_text,
            _created(slice_, now)]


# -- policy, nodes, events, workloads ------------------------------------------------------------------


def _network_policy_cells(policy: Obj, now: datetime) -> list[Any]:
    selector = _selector_text(k8s.as_map(policy.get("spec")).get("podSelector"))
    return [selector or "<none>", _created(policy, now)]


def _node_cells(node: Obj, now: datetime) -> list[Any]:
    spec, status = k8s.as_map(node.get("spec")), k8s.as_map(node.get("status"))
    ready = next((k8s.as_map(c) for c in k8s.as_list(status.get("conditions"))
                  if k8s.as_map(c).get("type") == "Ready"), {})
    state = {"True": "Ready", "False": "NotReady"}.get(str(ready.get("status")), "Unknown")
    if spec.get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(label.removeprefix("node-role.kubernetes.io/") for label in k8s.labels(node)
                   if label.startswith("node-role.kubernetes.io/"))
    addresses = [k8s.as_map(a) for a in k8s.as_list(status.get("addresses"))]

    def address(kind: str) -> str:
        return next((str(a.get("address")) for a in addresses if a.get("type") == kind), "<none>")

    info = k8s.as_map(status.get("nodeInfo"))
    return [state, _or_none(roles), _created(node, now), str(info.get("kubeletVersion") or ""),
            address("InternalIP"), address("ExternalIP"), str(info.get("osImage") or "<unknown>"),
            str(info.get("kernelVersion") or "<unknown>"), str(info.get("containerRuntimeVersion") or "<unknown>")]


_NODE_COLUMNS = (Column("Status"), Column("Roles"), Column("Age"), Column("Version"),
                 Column("Internal-IP", priority=1), Column("External-IP", priority=1), Column("OS-Image", priority=1),
                 Column("Kernel-Version", priority=1), Column("Container-Runtime", priority=1))


def _event_cells(event: Obj, now: datetime) -> list[Any]:
    involved = k8s.as_map(event.get("involvedObject"))
    series = k8s.as_map(event.get("series"))
    last = series.get("lastObservedTime") or event.get("lastTimestamp") or event.get("eventTime") \
        or k8s.meta(event).get("creationTimestamp")
    first = event.get("firstTimestamp") or event.get("eventTime") or k8s.meta(event).get("creationTimestamp")
    source = k8s.as_map(event.get("source"))
    source_text = str(source.get("component") or event.get("reportingComponent") or "")
    if source.get("host"):
        source_text += f", {source['host']}"
    count = series.get("count") or event.get("count") or 1
    return [_age(last, now), str(event.get("type") or ""), str(event.get("reason") or ""),
            f"{str(involved.get('kind') or '').lower()}/{involved.get('name') or ''}",
            str(involved.get("fieldPath") or ""), source_text, str(event.get("message") or "").strip(),
            _age(first, now), int(count), k8s.name(event)]


_EVENT_COLUMNS = (Column("Last Seen"), Column("Type"), Column("Reason"), Column("Object"),
                  Column("Subobject", priority=1), Column("Source", priority=1), Column("Message"),
                  Column("First Seen", priority=1), Column("Count", "integer", priority=1),
                  Column("Name", priority=1))


def _namespace_cells(namespace: Obj, now: datetime) -> list[Any]:
    return [str(k8s.as_map(namespace.get("status")).get("phase") or "Active"), _created(namespace, now)]


def _deployment_cells(deployment: Obj, now: datetime) -> list[Any]:
    spec, status = k8s.as_map(deployment.get("spec")), k8s.as_map(deployment.get("status"))
    desired = spec.get("replicas", 1)
    return [f"{status.get('readyReplicas') or 0}/{desired}", int(status.get("updatedReplicas") or 0),
            int(status.get("availableReplicas") or 0), _created(deployment, now)]


def _replica_set_cells(replica_set: Obj, now: datetime) -> list[Any]:
    spec, status = k8s.as_map(replica_set.get("spec")), k8s.as_map(replica_set.get("status"))
    return [int(spec.get("replicas", 1) or 0), int(status.get("replicas") or 0),
            int(status.get("readyReplicas") or 0), _created(replica_set, now)]


def _default_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_created(obj, now)]


_DEFAULT_COLUMNS = (Column("Age"),)

Cells = Callable[[Obj, datetime], list[Any]]
#: kind → (the columns after Name, the function giving a row's cells after the name).
PRINTERS: Mapping[str, tuple[tuple[Column, ...], Cells]] = {
    "Pod": (_POD_COLUMNS, _pod_cells),
    "Service": (_SERVICE_COLUMNS, _service_cells),
    "Endpoints": ((Column("Endpoints"), Column("Age")), _endpoints_cells),
    "EndpointSlice": ((Column("AddressType"), Column("Ports"), Column("Endpoints"), Column("Age")),
                      _endpoint_slice_cells),
    "NetworkPolicy": ((Column("Pod-Selector"), Column("Age")), _network_policy_cells),
    "Node": (_NODE_COLUMNS, _node_cells),
    "Event": (_EVENT_COLUMNS, _event_cells),
    "Namespace": ((Column("Status"), Column("Age")), _namespace_cells),
    "Deployment": ((Column("Ready"), Column("Up-to-date", "integer"), Column("Available", "integer"),
                    Column("Age")), _deployment_cells),
    "ReplicaSet": ((Column("Desired", "integer"), Column("Current", "integer"), Column("Ready", "integer"),
                    Column("Age")), _replica_set_cells),
}
