"""A deterministic builder of realistic cluster objects, for fixtures, tests and benchmarks.

It writes what ``kubectl get -o yaml`` prints for Namespaces, Nodes, Deployments with their
ReplicaSets and Pods, StatefulSets, Services, Events — and then plays the controllers that a
real cluster runs: the EndpointSlice controller and the legacy Endpoints controller, with their
real rules (ready = the Pod's Ready condition, named targetPorts resolved per Pod and protocol, a
Pod without the named port still listed in the slice but without that port, terminal Pods left
out, ``publishNotReadyAddresses``). Nothing random: the same calls give byte-identical output.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from svcdoctor import k8s
from svcdoctor.selectors import from_service_selector

Obj = dict[str, Any]


def _suffix(*parts: str, length: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def _address_of(pod: Obj, family: str) -> str | None:
    """The Pod's address of ``family`` (``IPv4``/``IPv6``) from ``status.podIPs`` (else ``podIP``)."""
    version = 6 if family == "IPv6" else 4
    addresses = [str(item.get("ip")) for item in pod["status"].get("podIPs") or [] if item.get("ip")]
    for address in addresses or [pod["status"]["podIP"]]:
        if ipaddress.ip_address(address).version == version:
            return address
    return None


def _uid(*parts: str) -> str:
    digest = hashlib.sha256(("uid/" + "/".join(parts)).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


class ClusterBuilder:
    """Builds a consistent set of cluster objects; call :meth:`build` at the end."""

    def __init__(self, now: str = "2026-11-20T10:00:00Z", pod_cidr: str = "10.244.0.0/16",
                 service_cidr: str = "10.96.0.0/16") -> None:
        self.now = k8s.parse_time(now) or datetime(2026, 11, 20, 10, tzinfo=UTC)
        self.objects: list[Obj] = []
        self._pod_ips = ipaddress.ip_network(pod_cidr).hosts()
        self._pod_ipv6s = ipaddress.ip_network("fd00:10:244::/64").hosts()
        self._service_ips = ipaddress.ip_network(service_cidr).hosts()
        next(self._service_ips)  # .1 is the kubernetes Service
        self._resource_version = 1000
        self._node_names: list[str] = []
        self._managed_services: set[tuple[str, str]] = set()
        self._node_ports = iter(range(30080, 32767))

    # -- basics ----------------------------------------------------------------------------------

    def time(self, minutes_ago: float = 0) -> str:
        return (self.now - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _meta(self, kind: str, namespace: str | None, name: str, labels: Mapping[str, str] | None = None,
              age_minutes: float = 60 * 24, **extra: Any) -> Obj:
        self._resource_version += 1
        metadata: Obj = {"name": name}
        if namespace:
            metadata["namespace"] = namespace
        metadata.update({
            "uid": _uid(kind, namespace or "", name),
            "resourceVersion": str(self._resource_version),
            "creationTimestamp": self.time(age_minutes),
        })
        if labels:
            metadata["labels"] = dict(labels)
        metadata.update(extra)
        return metadata

    def add(self, obj: Obj) -> Obj:
        self.objects.append(obj)
        return obj

    def next_pod_ip(self) -> str:
        return str(next(self._pod_ips))

    def next_service_ip(self) -> str:
        return str(next(self._service_ips))

    def snapshot_info(self, context: str = "kind-demo", server_version: str = "v1.31.2") -> Obj:
        from svcdoctor import __version__

        return self.add({"apiVersion": "svcdoctor.dev/v1", "kind": "SnapshotInfo", "capturedAt": self.time(0),
                         "context": context, "serverVersion": server_version, "svcdoctorVersion": __version__})

    # -- cluster-scoped ----------------------------------------------------------------------------

    def namespace(self, name: str, labels: Mapping[str, str] | None = None) -> Obj:
        all_labels = {"kubernetes.io/metadata.name": name, **(labels or {})}
        return self.add({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": self._meta("Namespace", None, name, all_labels, age_minutes=60 * 24 * 30),
                         "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})

    def node(self, name: str, ip: str, zone: str = "zone-a", ready: bool = True,
             pod_cidr: str | None = None) -> Obj:
        self._node_names.append(name)
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                  "topology.kubernetes.io/zone": zone}
        node: Obj = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": self._meta("Node", None, name, labels, age_minutes=60 * 24 * 30),
            "spec": {"podCIDR": pod_cidr} if pod_cidr else {},
            "status": {
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                "reason": "KubeletReady" if ready else "KubeletNotReady",
                                "lastHeartbeatTime": self.time(1), "lastTransitionTime": self.time(600)}],
                "nodeInfo": {"kubeletVersion": "v1.31.2", "kubeProxyVersion": "v1.31.2",
                             "containerRuntimeVersion": "containerd://1.7.22", "osImage": "Debian GNU/Linux 12"},
            },
        }
        return self.add(node)

    def dual_stack(self, obj: Obj, ipv6: str | None = None) -> Obj:
        """Give a Pod (``status.podIPs``, as the kubelet reports them) or a Node (a second InternalIP)
        an IPv6 address, allocated from fd00:10:244::/64 unless given."""
        address = ipv6 or str(next(self._pod_ipv6s))
        if obj["kind"] == "Node":
            obj["status"]["addresses"].insert(1, {"type": "InternalIP", "address": address})
        else:
            obj["status"]["podIPs"] = [*obj["status"].get("podIPs", []), {"ip": address}]
        return obj

    def _pick_node(self, index: int) -> str:
        return self._node_names[index % len(self._node_names)] if self._node_names else "node-a"

    # -- Pods and workloads ------------------------------------------------------------------------

    @staticmethod
    def container(name: str, image: str, ports: Iterable[Mapping[str, Any]] = (),
                  readiness: Mapping[str, Any] | None = None, **extra: Any) -> Obj:
        container: Obj = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent"}
        port_list = []
        for port in ports:
            item = dict(port)
            item.setdefault("protocol", "TCP")
            port_list.append(item)
        if port_list:
            container["ports"] = port_list
        if readiness is not None:
            container["readinessProbe"] = dict(readiness)
        container.update({"resources": {}, "terminationMessagePath": "/dev/termination-log",
                          "terminationMessagePolicy": "File"})
        container.update(extra)
        return container

    def pod(self, namespace: str, name: str, labels: Mapping[str, str], containers: list[Obj], *,
            node: str | None = None, state: str = "running", restarts: int = 0, owner: Obj | None = None,
            ip: str | None = None, readiness_gates: Iterable[str] = (), gates_true: Iterable[str] = (),
            host_network: bool = False, dns_policy: str = "ClusterFirst", age_minutes: float = 120,
            extra_spec: Mapping[str, Any] | None = None) -> Obj:
        """A Pod in one of the states a user meets.

        ``state``: running | notready | crashloop | imagepull | pending | terminating | completed | failed.
        """
        extra_meta: dict[str, Any] = {}
        if owner is not None:
            extra_meta["ownerReferences"] = [{
                "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
        if state == "terminating":
            extra_meta["deletionTimestamp"] = self.time(1)
            extra_meta["deletionGracePeriodSeconds"] = 30
        metadata = self._meta("Pod", namespace, name, labels, age_minutes=age_minutes, **extra_meta)
        node_name = node or self._pick_node(len(self.objects))
        pod_spec: Obj = {
            "containers": copy.deepcopy(containers), "dnsPolicy": dns_policy, "enableServiceLinks": True,
            "restartPolicy": "Always", "schedulerName": "default-scheduler", "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
        }
        if state != "pending":
            pod_spec["nodeName"] = node_name
        if host_network:
            pod_spec["hostNetwork"] = True
        gates = list(readiness_gates)
        if gates:
            pod_spec["readinessGates"] = [{"conditionType": gate} for gate in gates]
        if extra_spec:
            pod_spec.update(copy.deepcopy(dict(extra_spec)))
        started = self.time(age_minutes - 1)
        ready = state in ("running", "terminating") and set(gates) <= set(gates_true)
        statuses = []
        for container in containers:
            status: Obj = {"name": container["name"], "image": container["image"],
                           "imageID": "", "containerID": "", "restartCount": restarts,
                           "ready": state in ("running", "terminating") or (state == "notready" and False),
                           "started": state in ("running", "notready", "terminating")}
            if state in ("running", "notready", "terminating"):
                status["state"] = {"running": {"startedAt": started}}
                image_digest = hashlib.sha256(container["image"].encode()).hexdigest()
                status["imageID"] = f"{container['image']}@sha256:{image_digest}"
                container_id = hashlib.sha256((name + container["name"]).encode()).hexdigest()
                status["containerID"] = "containerd://" + container_id
                if state == "notready":
                    status["ready"] = False
            elif state == "crashloop":
                back_off = f"back-off 5m0s restarting failed container={container['name']} pod={name}"
                status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": back_off}}
                status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": self.time(6),
                                                      "finishedAt": self.time(5)}}
                status["restartCount"] = max(restarts, 12)
            elif state == "imagepull":
                status["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                               "message": f'Back-off pulling image "{container["image"]}"'}}
            elif state in ("completed", "failed"):
                status["state"] = {"terminated": {"exitCode": 0 if state == "completed" else 1,
                                                  "reason": "Completed" if state == "completed" else "Error",
                                                  "startedAt": started, "finishedAt": self.time(30)}}
            if state == "pending":
                status = {}
            if status:
                statuses.append(status)
        phase = {"running": "Running", "notready": "Running", "terminating": "Running", "crashloop": "Running",
                 "imagepull": "Pending", "pending": "Pending", "completed": "Succeeded", "failed": "Failed"}[state]
        conditions = []
        if state == "pending":
            conditions.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                               "message": "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes "
                                          "are available: 3 No preemption victims found for incoming pod.",
                               "lastProbeTime": None, "lastTransitionTime": self.time(age_minutes)})
        else:
            for kind, value in (("PodReadyToStartContainers", state not in ("imagepull",)),
                                ("Initialized", True), ("Ready", ready),
                                ("ContainersReady", state in ("running", "terminating")),
                                ("PodScheduled", True)):
                condition: Obj = {"type": kind, "status": "True" if value else "False",
                                  "lastProbeTime": None, "lastTransitionTime": self.time(age_minutes - 1)}
                if not value and kind in ("Ready", "ContainersReady"):
                    if kind == "Ready" and gates and state in ("running", "terminating"):
                        condition["reason"] = "ReadinessGatesNotReady"
                        missing = sorted(set(gates) - set(gates_true))
                        condition["message"] = (f"corresponding condition of pod readiness gate \"{missing[0]}\" "
                                                "does not exist.")
                    else:
                        condition["reason"] = "ContainersNotReady"
                        names = ",".join(c["name"] for c in containers)
                        condition["message"] = f"containers with unready status: [{names}]"
                conditions.append(condition)
            for gate in gates_true:
                conditions.append({"type": gate, "status": "True", "lastProbeTime": None,
                                   "lastTransitionTime": self.time(age_minutes - 1)})
        pod_status: Obj = {"phase": phase, "conditions": conditions, "qosClass": "BestEffort"}
        if state != "pending":
            node_obj = next((o for o in self.objects
                             if o["kind"] == "Node" and o["metadata"]["name"] == node_name), None)
            host_ip = node_obj["status"]["addresses"][0]["address"] if node_obj else "192.0.2.10"
            pod_status["hostIP"] = host_ip
            pod_status["hostIPs"] = [{"ip": host_ip}]
            if state not in ("completed", "failed") or ip:
                address = host_ip if host_network else (ip or self.next_pod_ip())
                pod_status["podIP"] = address
                pod_status["podIPs"] = [{"ip": address}]
            pod_status["startTime"] = self.time(age_minutes)
        if statuses:
            pod_status["containerStatuses"] = statuses
        return self.add({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec,
                         "status": pod_status})

    def deployment(self, namespace: str, name: str, labels: Mapping[str, str], containers: list[Obj], *,
                   replicas: int = 2, states: Iterable[str] | None = None, restarts: int = 0,
                   template_labels: Mapping[str, str] | None = None, nodes: Iterable[str] | None = None,
                   readiness_gates: Iterable[str] = (), gates_true: Iterable[str] = (),
                   extra_spec: Mapping[str, Any] | None = None) -> list[Obj]:
        """A Deployment, its current ReplicaSet and its Pods. Returns the Pods."""
        pod_labels = dict(template_labels or labels)
        template_hash = _suffix(namespace, name, "hash", length=9).replace("z", "5")
        template: Obj = {"metadata": {"labels": dict(pod_labels)},
                         "spec": {"containers": copy.deepcopy(containers), "dnsPolicy": "ClusterFirst",
                                  "restartPolicy": "Always"}}
        if extra_spec:
            template["spec"].update(copy.deepcopy(dict(extra_spec)))
        if readiness_gates:
            template["spec"]["readinessGates"] = [{"conditionType": g} for g in readiness_gates]
        state_list = list(states) if states is not None else ["running"] * replicas
        ready_count = sum(1 for s in state_list if s == "running")
        deployment = self.add({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": self._meta("Deployment", namespace, name, labels,
                                   annotations={"deployment.kubernetes.io/revision": "1"}),
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(pod_labels)},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600, "template": template},
            "status": {"observedGeneration": 1, "replicas": len(state_list), "updatedReplicas": len(state_list),
                       "readyReplicas": ready_count, "availableReplicas": ready_count,
                       "unavailableReplicas": max(0, replicas - ready_count) or None},
        })
        if deployment["status"]["unavailableReplicas"] is None:
            del deployment["status"]["unavailableReplicas"]
        rs_name = f"{name}-{template_hash}"
        rs_labels = {**pod_labels, "pod-template-hash": template_hash}
        replica_set = self.add({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": self._meta("ReplicaSet", namespace, rs_name, rs_labels, ownerReferences=[{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                "uid": deployment["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]),
            "spec": {"replicas": replicas, "selector": {"matchLabels": rs_labels},
                     "template": {**copy.deepcopy(template), "metadata": {"labels": rs_labels}}},
            "status": {"replicas": len(state_list), "readyReplicas": ready_count, "availableReplicas": ready_count,
                       "fullyLabeledReplicas": len(state_list), "observedGeneration": 1},
        })
        node_list = list(nodes) if nodes is not None else None
        pods = []
        for index, state in enumerate(state_list):
            pod_name = f"{rs_name}-{_suffix(namespace, name, str(index))}"
            node = node_list[index % len(node_list)] if node_list else self._pick_node(index)
            pods.append(self.pod(namespace, pod_name, rs_labels, containers, node=node, state=state,
                                 restarts=restarts, owner=replica_set, readiness_gates=readiness_gates,
                                 gates_true=gates_true, extra_spec=extra_spec))
        return pods

    def stateful_set(self, namespace: str, name: str, labels: Mapping[str, str], containers: list[Obj], *,
                     service_name: str, replicas: int = 3, states: Iterable[str] | None = None) -> list[Obj]:
        template: Obj = {"metadata": {"labels": dict(labels)},
                         "spec": {"containers": copy.deepcopy(containers), "dnsPolicy": "ClusterFirst",
                                  "restartPolicy": "Always"}}
        state_list = list(states) if states is not None else ["running"] * replicas
        ready_count = sum(1 for s in state_list if s == "running")
        revision = f"{name}-{_suffix(namespace, name, 'rev', length=10)}"
        stateful_set = self.add({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": self._meta("StatefulSet", namespace, name, labels),
            "spec": {"replicas": replicas, "serviceName": service_name, "podManagementPolicy": "OrderedReady",
                     "selector": {"matchLabels": dict(labels)}, "template": template,
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}},
            "status": {"replicas": len(state_list), "readyReplicas": ready_count, "currentReplicas": len(state_list),
                       "updatedReplicas": len(state_list), "currentRevision": revision, "updateRevision": revision,
                       "availableReplicas": ready_count, "observedGeneration": 1},
        })
        pods = []
        for index, state in enumerate(state_list):
            pod_labels = {**labels, "apps.kubernetes.io/pod-index": str(index),
                          "controller-revision-hash": revision,
                          "statefulset.kubernetes.io/pod-name": f"{name}-{index}"}
            pods.append(self.pod(namespace, f"{name}-{index}", pod_labels, containers, state=state,
                                 owner=stateful_set, node=self._pick_node(index),
                                 extra_spec={"hostname": f"{name}-{index}", "subdomain": service_name}))
        return pods

    # -- Services --------------------------------------------------------------------------------

    def service(self, namespace: str, name: str, selector: Mapping[str, str] | None,
                ports: Iterable[Mapping[str, Any]], *, type: str = "ClusterIP", headless: bool = False,
                labels: Mapping[str, str] | None = None, manage_endpoints: bool = True,
                external_name: str | None = None, load_balancer_ip: str | None = None,
                **spec_extra: Any) -> Obj:
        spec: Obj = {}
        port_list = []
        for port in ports:
            item = dict(port)
            item.setdefault("protocol", "TCP")
            if "targetPort" not in item and type != "ExternalName":
                item["targetPort"] = item["port"]
            if type in ("NodePort", "LoadBalancer") and "nodePort" not in item:
                item["nodePort"] = next(self._node_ports)
            port_list.append(item)
        if type == "ExternalName":
            spec = {"type": "ExternalName", "externalName": external_name or "example.com",
                    "sessionAffinity": "None"}
            if port_list:
                spec["ports"] = port_list
        else:
            ip = "None" if headless else self.next_service_ip()
            spec = {"clusterIP": ip, "clusterIPs": [ip], "internalTrafficPolicy": "Cluster",
                    "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "ports": port_list,
                    "sessionAffinity": "None", "type": type}
            if selector is not None:
                spec["selector"] = dict(selector)
            if type in ("NodePort", "LoadBalancer"):
                spec["externalTrafficPolicy"] = "Cluster"
            if type == "LoadBalancer":
                spec["allocateLoadBalancerNodePorts"] = True
        spec.update(spec_extra)
        status: Obj = {"loadBalancer": {}}
        if type == "LoadBalancer" and load_balancer_ip:
            status = {"loadBalancer": {"ingress": [{"ip": load_balancer_ip, "ipMode": "VIP"}]}}
        service = self.add({"apiVersion": "v1", "kind": "Service",
                            "metadata": self._meta("Service", namespace, name, labels), "spec": spec,
                            "status": status})
        if manage_endpoints and selector and type != "ExternalName":
            self._managed_services.add((namespace, name))
        return service

    def network_policy(self, namespace: str, name: str, spec: Mapping[str, Any],
                       labels: Mapping[str, str] | None = None) -> Obj:
        """A NetworkPolicy as the API returns it (``spec`` as written; no defaulting applied)."""
        return self.add({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                         "metadata": self._meta("NetworkPolicy", namespace, name, labels, age_minutes=60 * 5),
                         "spec": copy.deepcopy(dict(spec))})

    def resource(self, api_version: str, kind: str, namespace: str | None, name: str, spec: Mapping[str, Any],
                 *, status: Mapping[str, Any] | None = None, labels: Mapping[str, str] | None = None,
                 generation: int = 1) -> Obj:
        """A custom resource (Gateway API, AdminNetworkPolicy, CiliumNetworkPolicy…) as the API returns it.

        ``namespace`` None for a cluster-scoped kind; ``status`` as its controller last wrote it.
        """
        metadata = self._meta(kind, namespace, name, labels, age_minutes=60 * 5)
        metadata["generation"] = generation
        obj: Obj = {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": copy.deepcopy(dict(spec))}
        if status is not None:
            obj["status"] = copy.deepcopy(dict(status))
        return self.add(obj)

    def event(self, involved: Obj, reason: str, message: str, *, type: str = "Warning", count: int = 1,
              minutes_ago: float = 1, component: str = "kubelet", series: bool = False) -> Obj:
        metadata = involved["metadata"]
        name = f"{metadata['name']}.{hashlib.sha256((reason + message).encode()).hexdigest()[:16]}"
        event: Obj = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": self._meta("Event", metadata.get("namespace"), name, age_minutes=minutes_ago + 30),
            "involvedObject": {"apiVersion": involved["apiVersion"], "kind": involved["kind"],
                               "name": metadata["name"], "namespace": metadata.get("namespace"),
                               "uid": metadata["uid"], "resourceVersion": metadata["resourceVersion"]},
            "reason": reason, "message": message, "type": type,
            "source": {"component": component},
            "reportingComponent": component, "reportingInstance": "",
        }
        if series:
            event.update({"eventTime": self.time(minutes_ago + 30), "firstTimestamp": None, "lastTimestamp": None,
                          "count": None, "action": reason,
                          "series": {"count": count, "lastObservedTime": self.time(minutes_ago)}})
        else:
            event.update({"firstTimestamp": self.time(minutes_ago + 30), "lastTimestamp": self.time(minutes_ago),
                          "count": count, "eventTime": None})
        return self.add(event)

    def ingress(self, namespace: str, name: str, rules: Iterable[Mapping[str, Any]], *,
                default_backend: Mapping[str, Any] | None = None, ingress_class: str = "nginx",
                load_balancer_ip: str | None = None) -> Obj:
        """A networking.k8s.io/v1 Ingress. ``rules``: ``{"host": ..., "paths": [{"path", "service", "port"}]}``
        where ``port`` is a number or a port name."""

        def backend(service: str, port: int | str) -> Obj:
            return {"service": {"name": service,
                                "port": {"number": port} if isinstance(port, int) else {"name": port}}}

        rule_list = []
        for rule in rules:
            paths = [{"path": path.get("path", "/"), "pathType": path.get("pathType", "Prefix"),
                      "backend": backend(path["service"], path["port"])} for path in rule["paths"]]
            item: Obj = {"http": {"paths": paths}}
            if rule.get("host"):
                item = {"host": rule["host"], **item}
            rule_list.append(item)
        spec: Obj = {"ingressClassName": ingress_class, "rules": rule_list}
        if default_backend is not None:
            spec["defaultBackend"] = backend(default_backend["service"], default_backend["port"])
        status: Obj = {"loadBalancer": {"ingress": [{"ip": load_balancer_ip}]} if load_balancer_ip else {}}
        return self.add({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                         "metadata": self._meta("Ingress", namespace, name),
                         "spec": spec, "status": status})

    def endpoint_slice(self, namespace: str, name: str, addresses: Iterable[str],
                       ports: Iterable[Mapping[str, Any]], *, service_name: str | None = None,
                       labels: Mapping[str, str] | None = None, ready: bool = True) -> Obj:
        """A hand-made EndpointSlice (for a Service without selector); ``service_name`` sets the
        ``kubernetes.io/service-name`` label that ties it to its Service (None leaves it out)."""
        all_labels = dict(labels or {})
        if service_name is not None:
            all_labels["kubernetes.io/service-name"] = service_name
        endpoints = [{"addresses": [address], "conditions": {"ready": ready}} for address in addresses]
        port_items = [{"name": str(port.get("name") or ""), "port": int(port["port"]),
                       "protocol": port.get("protocol", "TCP")} for port in ports]
        return self.add({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                         "metadata": self._meta("EndpointSlice", namespace, name, all_labels or None),
                         "endpoints": endpoints or None, "ports": port_items or None})

    def add_zone_hints(self, namespace: str, service_name: str) -> None:
        """Hint every endpoint of the Service's slices for its own zone, as the EndpointSlice controller
        does for ``trafficDistribution: PreferClose``. Call after :meth:`build`."""
        for obj in self.objects:
            if (obj["kind"] != "EndpointSlice" or obj["metadata"].get("namespace") != namespace
                    or obj["metadata"].get("labels", {}).get("kubernetes.io/service-name") != service_name):
                continue
            for endpoint in obj.get("endpoints") or []:
                if endpoint.get("zone"):
                    endpoint["hints"] = {"forZones": [{"name": endpoint["zone"]}]}

    # -- the controllers -------------------------------------------------------------------------

    # -- kube-proxy and node data-plane dumps ---------------------------------------------------

    def kube_proxy(self, states: Mapping[str, str] | None = None, *, missing_nodes: Iterable[str] = (),
                   image: str = "registry.k8s.io/kube-proxy:v1.31.2") -> list[Obj]:
        """The kube-proxy DaemonSet of kube-system and its Pod on every node (host network).

        ``states``: node → Pod state (running by default; see :meth:`pod`); ``missing_nodes``: nodes
        without a kube-proxy Pod. Returns the Pods.
        """
        labels = {"k8s-app": "kube-proxy"}
        container = self.container("kube-proxy", image, command=["/usr/local/bin/kube-proxy",
                                                                 "--config=/var/lib/kube-proxy/config.conf",
                                                                 "--hostname-override=$(NODE_NAME)"],
                                   securityContext={"privileged": True})
        nodes = [name for name in self._node_names if name not in set(missing_nodes)]
        states = dict(states or {})
        ready = sum(1 for name in nodes if states.get(name, "running") == "running")
        daemon_set = self.add({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": self._meta("DaemonSet", "kube-system", "kube-proxy", labels, age_minutes=60 * 24 * 30,
                                   generation=1),
            "spec": {"selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [container], "hostNetwork": True,
                                           "priorityClassName": "system-node-critical",
                                           "serviceAccountName": "kube-proxy",
                                           "tolerations": [{"operator": "Exists"}]}},
                     "updateStrategy": {"type": "RollingUpdate"}},
            "status": {"currentNumberScheduled": len(nodes), "desiredNumberScheduled": len(self._node_names),
                       "numberAvailable": ready, "numberReady": ready, "numberMisscheduled": 0,
                       "observedGeneration": 1, "updatedNumberScheduled": len(nodes)},
        })
        pods = []
        for name in nodes:
            pods.append(self.pod("kube-system", f"kube-proxy-{_suffix('kube-proxy', name)}", labels, [container],
                                 node=name, state=states.get(name, "running"), owner=daemon_set, host_network=True,
                                 age_minutes=60 * 24 * 30))
        return pods

    def node_dump(self, node: str, proxy_mode: str, **texts: str) -> Obj:
        """A ``svcdoctor.dev/v1`` NodeDump (texts: iptablesSave, nftRuleset, ipvsadm, ip6tablesSave)."""
        dump: Obj = {"apiVersion": "svcdoctor.dev/v1", "kind": "NodeDump", "metadata": {"name": node},
                     "proxyMode": proxy_mode}
        dump.update({key: value for key, value in texts.items() if value})
        return self.add(dump)

    def _pods(self) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == "Pod"]

    def reconcile_endpoints(self, legacy: bool = True) -> None:
        """Play the EndpointSlice (and Endpoints) controllers for every managed Service."""
        for service in [o for o in self.objects if o["kind"] == "Service"]:
            key = (service["metadata"]["namespace"], service["metadata"]["name"])
            if key not in self._managed_services:
                continue
            self._endpoints_for(service, legacy)

    def _endpoints_for(self, service: Obj, legacy: bool) -> None:
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        selector = from_service_selector(service["spec"].get("selector"))
        publish = bool(service["spec"].get("publishNotReadyAddresses"))
        pods = [p for p in self._pods() if p["metadata"]["namespace"] == namespace
                and selector.matches(p["metadata"].get("labels", {}))
                and p["status"].get("podIP") and p["status"].get("phase") not in ("Succeeded", "Failed")]
        headless = service["spec"].get("clusterIP") == "None"
        # Group Pods by the port list they resolve to, as the controller does.
        groups: dict[tuple[tuple[str, int, str], ...], list[Obj]] = {}
        for pod in pods:
            resolved = []
            for port in service["spec"].get("ports", []):
                number = _find_port(pod, port)
                if number is not None:
                    resolved.append((str(port.get("name") or ""), number, port.get("protocol", "TCP")))
            groups.setdefault(tuple(resolved), []).append(pod)
        if not groups:
            groups[()] = []
        node_zones = {o["metadata"]["name"]: o["metadata"]["labels"].get("topology.kubernetes.io/zone", "")
                      for o in self.objects if o["kind"] == "Node"}
        # One slice per address family of the Service (spec.ipFamilies), each with the Pods' addresses
        # of that family (status.podIPs), as the controller writes them for dual-stack Services.
        families = [str(item) for item in service["spec"].get("ipFamilies") or ["IPv4"]]
        for family, (index, (ports, group)) in ((family, item) for family in families for item in
                                               enumerate(sorted(groups.items(), key=lambda item: item[0]))):
            endpoints = []
            for pod in group:
                address = _address_of(pod, family)
                if address is None:
                    continue
                ready = k8s.pod_is_ready(pod)
                terminating = bool(pod["metadata"].get("deletionTimestamp"))
                endpoint: Obj = {
                    "addresses": [address],
                    "conditions": {"ready": (ready and not terminating) or publish,
                                   "serving": ready, "terminating": terminating},
                    "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"],
                                  "uid": pod["metadata"]["uid"]},
                }
                node = pod["spec"].get("nodeName")
                if node:
                    endpoint["nodeName"] = node
                    if node_zones.get(node):
                        endpoint["zone"] = node_zones[node]
                if headless and pod["spec"].get("hostname") and pod["spec"].get("subdomain") == name:
                    endpoint["hostname"] = pod["spec"]["hostname"]
                endpoints.append(endpoint)
            parts = (namespace, name, "slice", str(index)) + ((family,) if family != "IPv4" else ())
            slice_name = f"{name}-{_suffix(*parts)}"
            port_items = [{"name": port_name, "port": number, "protocol": protocol}
                          for port_name, number, protocol in ports]
            self.add({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": family,
                "metadata": self._meta("EndpointSlice", namespace, slice_name, {
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    "kubernetes.io/service-name": name,
                    **({"service.kubernetes.io/headless": ""} if headless else {}),
                }, age_minutes=30, generateName=f"{name}-", ownerReferences=[{
                    "apiVersion": "v1", "kind": "Service", "name": name, "uid": service["metadata"]["uid"],
                    "controller": True, "blockOwnerDeletion": True}],
                    annotations={"endpoints.kubernetes.io/last-change-trigger-time": self.time(30)}),
                "endpoints": endpoints or None,
                "ports": port_items or None,
            })
        if legacy:
            self._legacy_endpoints(service, pods, publish)

    def _legacy_endpoints(self, service: Obj, pods: list[Obj], publish: bool) -> None:
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        subsets = []
        for port in service["spec"].get("ports", []):
            ready_addresses: list[tuple[Obj, int]] = []
            not_ready: list[tuple[Obj, int]] = []
            for pod in pods:
                number = _find_port(pod, port)
                if number is None:
                    continue
                address: Obj = {"ip": pod["status"]["podIP"], "targetRef": {
                    "kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"]}}
                if pod["spec"].get("nodeName"):
                    address["nodeName"] = pod["spec"]["nodeName"]
                target = ready_addresses if (k8s.pod_is_ready(pod) or publish) else not_ready
                target.append((address, number))
            if not ready_addresses and not not_ready:
                continue
            numbers = {n for _, n in ready_addresses + not_ready}
            for number in sorted(numbers):
                subset: Obj = {}
                ready_list = [a for a, n in ready_addresses if n == number]
                not_ready_list = [a for a, n in not_ready if n == number]
                if ready_list:
                    subset["addresses"] = ready_list
                if not_ready_list:
                    subset["notReadyAddresses"] = not_ready_list
                port_item: Obj = {"port": number, "protocol": port.get("protocol", "TCP")}
                if port.get("name"):
                    port_item["name"] = port["name"]
                subset["ports"] = [port_item]
                subsets.append(subset)
        endpoints: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                          "metadata": self._meta("Endpoints", namespace, name, service["metadata"].get("labels"),
                                                 age_minutes=30)}
        if subsets:
            endpoints["subsets"] = subsets
        self.add(endpoints)

    def build(self, reconcile: bool = True) -> list[Obj]:
        """Every object, with the endpoint controllers played first (once)."""
        if reconcile:
            self.reconcile_endpoints()
            self._managed_services.clear()
        return self.objects

    def as_list(self) -> Obj:
        return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": self.build()}

    # -- Pod states beyond pod(state=...): call these before build() ---------------------------

    @staticmethod
    def _condition(pod: Obj, kind: str) -> Obj | None:
        return next((c for c in pod["status"].get("conditions", []) if c["type"] == kind), None)

    def _set_condition(self, pod: Obj, kind: str, value: bool, reason: str = "", message: str = "",
                       minutes_ago: float = 5) -> None:
        condition = self._condition(pod, kind)
        if condition is None:
            condition = {"type": kind, "lastProbeTime": None}
            pod["status"].setdefault("conditions", []).append(condition)
        status = "True" if value else "False"
        if condition.get("status") != status:
            condition["lastTransitionTime"] = self.time(minutes_ago)
        condition["status"] = status
        for key, text in (("reason", reason), ("message", message)):
            if text:
                condition[key] = text
            else:
                condition.pop(key, None)

    def _mark_unready(self, pod: Obj, names: Iterable[str], minutes_ago: float = 5) -> None:
        message = f"containers with unready status: [{' '.join(names)}]"
        for kind in ("Ready", "ContainersReady"):
            self._set_condition(pod, kind, False, "ContainersNotReady", message, minutes_ago)

    def container_waiting(self, pod: Obj, reason: str, message: str = "", *, container: int = 0,
                          restarts: int | None = None, last_reason: str | None = None, last_exit_code: int = 1,
                          minutes_ago: float = 5) -> Obj:
        """Put one container in ``waiting`` (CreateContainerConfigError, ErrImagePull, CrashLoopBackOff…).

        With ``last_reason`` the container also gets a ``lastState.terminated`` (OOMKilled, Error).
        """
        status = pod["status"]["containerStatuses"][container]
        waiting: Obj = {"reason": reason}
        if message:
            waiting["message"] = message
        status["state"] = {"waiting": waiting}
        status.update({"ready": False, "started": False})
        if reason in ("CreateContainerConfigError", "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                      "ContainerCreating"):
            status["imageID"], status["containerID"] = "", ""
        if last_reason is not None:
            status["lastState"] = {"terminated": {
                "exitCode": last_exit_code, "reason": last_reason, "startedAt": self.time(minutes_ago + 1),
                "finishedAt": self.time(minutes_ago), "containerID": status.get("containerID") or ""}}
        if restarts is not None:
            status["restartCount"] = restarts
        pod["status"]["phase"] = "Running" if status.get("containerID") or last_reason else "Pending"
        self._mark_unready(pod, [status["name"]], minutes_ago)
        return pod

    def restarted(self, pod: Obj, restarts: int, *, reason: str = "Error", exit_code: int = 1,
                  minutes_ago: float = 10, container: int = 0) -> Obj:
        """A running container that has restarted ``restarts`` times, the last ``minutes_ago``."""
        status = pod["status"]["containerStatuses"][container]
        status["restartCount"] = restarts
        status["lastState"] = {"terminated": {
            "exitCode": exit_code, "reason": reason, "startedAt": self.time(minutes_ago + 30),
            "finishedAt": self.time(minutes_ago), "containerID": status.get("containerID") or ""}}
        if "running" in status.get("state", {}):
            status["state"] = {"running": {"startedAt": self.time(minutes_ago)}}
        return pod

    def init_container(self, pod: Obj, name: str, image: str, *, state: str = "running",
                       message: str = "", minutes_ago: float = 20) -> Obj:
        """Give the Pod an init container that is still ``running`` or in ``crashloop``, so the Pod waits."""
        pod["spec"].setdefault("initContainers", []).append(self.container(name, image))
        status: Obj = {"name": name, "image": image, "imageID": f"{image}@sha256:" + hashlib.sha256(
            image.encode()).hexdigest(), "restartCount": 0, "ready": False, "started": state == "running",
            "containerID": "containerd://" + hashlib.sha256((k8s.name(pod) + name).encode()).hexdigest()}
        if state == "running":
            status["state"] = {"running": {"startedAt": self.time(minutes_ago)}}
        else:
            status["restartCount"] = 7
            status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": message or
                                           f"back-off 5m0s restarting failed container={name} pod={k8s.name(pod)}"}}
            status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": self.time(3),
                                                  "finishedAt": self.time(2)}}
        pod["status"].setdefault("initContainerStatuses", []).append(status)
        pod["status"]["phase"] = "Pending"
        for app_status in pod["status"].get("containerStatuses", []):
            app_status.update({"ready": False, "started": False, "restartCount": 0, "imageID": "",
                               "containerID": "", "state": {"waiting": {"reason": "PodInitializing"}}})
            app_status.pop("lastState", None)
        self._set_condition(pod, "Initialized", False, "ContainersNotInitialized",
                            f"containers with incomplete status: [{name}]", minutes_ago)
        self._mark_unready(pod, [c["name"] for c in pod["spec"]["containers"]], minutes_ago)
        return pod

    def terminate(self, pod: Obj, *, minutes_ago: float = 1, grace_seconds: int = 30,
                  finalizers: Iterable[str] = ()) -> Obj:
        """Delete the Pod ``minutes_ago``: deletionTimestamp is that moment plus the grace period."""
        moment = self.now - timedelta(minutes=minutes_ago) + timedelta(seconds=grace_seconds)
        pod["metadata"]["deletionTimestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        pod["metadata"]["deletionGracePeriodSeconds"] = grace_seconds
        if finalizers:
            pod["metadata"]["finalizers"] = list(finalizers)
        return pod

    def set_condition(self, pod: Obj, kind: str, value: bool, *, reason: str = "", message: str = "",
                      minutes_ago: float = 5) -> Obj:
        """Set one Pod condition (a readiness gate's, or Ready itself)."""
        self._set_condition(pod, kind, value, reason, message, minutes_ago)
        return pod

    def replica_set(self, namespace: str, deployment: str, containers: list[Obj], *,
                    labels: Mapping[str, str], states: Iterable[str], revision: int = 2,
                    age_minutes: float = 10) -> list[Obj]:
        """Another ReplicaSet of an existing Deployment (a rollout in progress), with its Pods."""
        owner = next(o for o in self.objects if o["kind"] == "Deployment"
                     and o["metadata"]["name"] == deployment and o["metadata"].get("namespace") == namespace)
        template_hash = _suffix(namespace, deployment, "hash", str(revision), length=9).replace("z", "5")
        rs_labels = {**labels, "pod-template-hash": template_hash}
        state_list = list(states)
        ready = sum(1 for s in state_list if s == "running")
        template = copy.deepcopy(owner["spec"]["template"])
        template["metadata"] = {"labels": dict(rs_labels)}
        template["spec"]["containers"] = copy.deepcopy(containers)
        owner["spec"]["template"]["spec"]["containers"] = copy.deepcopy(containers)
        owner["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(revision)
        replica_set = self.add({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": self._meta("ReplicaSet", namespace, f"{deployment}-{template_hash}", rs_labels,
                                   age_minutes=age_minutes,
                                   annotations={"deployment.kubernetes.io/revision": str(revision)},
                                   ownerReferences=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                                                     "uid": owner["metadata"]["uid"], "controller": True,
                                                     "blockOwnerDeletion": True}]),
            "spec": {"replicas": len(state_list), "selector": {"matchLabels": rs_labels}, "template": template},
            "status": {"replicas": len(state_list), "readyReplicas": ready, "availableReplicas": ready,
                       "fullyLabeledReplicas": len(state_list), "observedGeneration": 1},
        })
        rs_name = replica_set["metadata"]["name"]
        return [self.pod(namespace, f"{rs_name}-{_suffix(namespace, deployment, str(revision), str(i))}", rs_labels,
                         containers, state=state, owner=replica_set, node=self._pick_node(i),
                         age_minutes=age_minutes)
                for i, state in enumerate(state_list)]

    def forget(self, obj: Obj) -> None:
        """Remove an object, e.g. a Pod deleted after the endpoint controllers last wrote (stale endpoints)."""
        self.objects = [o for o in self.objects if o is not obj]

    def event_v1(self, involved: Obj, reason: str, note: str, *, type: str = "Warning", count: int = 1,
                 minutes_ago: float = 1, controller: str = "kubelet", action: str = "") -> Obj:
        """An Event in the events.k8s.io/v1 shape (``regarding``, ``note``, ``eventTime``, ``series``)."""
        metadata = involved["metadata"]
        name = f"{metadata['name']}.{hashlib.sha256(('v1' + reason + note).encode()).hexdigest()[:16]}"
        event: Obj = {
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": self._meta("Event", metadata.get("namespace"), name, age_minutes=minutes_ago + 30),
            "eventTime": self.time(minutes_ago + 30).replace("Z", ".000000Z"),
            "reportingController": controller, "reportingInstance": f"{controller}-{metadata.get('name')}",
            "action": action or reason, "reason": reason, "note": note, "type": type,
            "regarding": {"apiVersion": involved["apiVersion"], "kind": involved["kind"], "name": metadata["name"],
                          "namespace": metadata.get("namespace"), "uid": metadata["uid"],
                          "resourceVersion": metadata["resourceVersion"]},
        }
        if count > 1:
            event["series"] = {"count": count, "lastObservedTime": self.time(minutes_ago).replace("Z", ".000000Z")}
        return self.add(event)


def _find_port(pod: Obj, service_port: Mapping[str, Any]) -> int | None:
    """``podutil.FindPort``: a number is used as is; a name is looked up among the Pod's ports."""
    target = service_port.get("targetPort", service_port.get("port"))
    protocol = service_port.get("protocol", "TCP")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in pod["spec"].get("containers", []):
        for port in container.get("ports", []) or []:
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None

