"""The Kubernetes resources svcdoctor reads: kind, API group and version, plural, scope.

One table shared by the live source (which paths to request), ``record`` (which kinds a snapshot
may hold), the test API server (what it serves and advertises in discovery) and
``deploy/rbac.yaml`` (a test keeps the ClusterRole equal to this table). Secrets are not here on
purpose: svcdoctor never reads them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """One API resource as discovery describes it."""

    kind: str
    #: "" for the core group.
    group: str
    version: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """``plural.group`` as RBAC messages and ``kubectl auth can-i`` print it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str = "", name: str = "") -> str:
        """The REST path of a list (``name`` empty) or of one object."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            prefix += f"/namespaces/{namespace}"
        path = f"{prefix}/{self.plural}"
        return f"{path}/{name}" if name else path


RESOURCES: tuple[Resource, ...] = (
    Resource("Namespace", "", "v1", "namespaces", False, ("ns",)),
    Resource("Node", "", "v1", "nodes", False, ("no",)),
    Resource("Service", "", "v1", "services", True, ("svc",)),
    Resource("Pod", "", "v1", "pods", True, ("po",)),
    Resource("Endpoints", "", "v1", "endpoints", True, ("ep",)),
    Resource("Event", "", "v1", "events", True, ("ev",)),
    Resource("ConfigMap", "", "v1", "configmaps", True, ("cm",)),
    Resource("ReplicationController", "", "v1", "replicationcontrollers", True, ("rc",)),
    Resource("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", True),
    Resource("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", True, ("netpol",)),
    Resource("Ingress", "networking.k8s.io", "v1", "ingresses", True, ("ing",)),
    Resource("Deployment", "apps", "v1", "deployments", True, ("deploy",)),
    Resource("ReplicaSet", "apps", "v1", "replicasets", True, ("rs",)),
    Resource("StatefulSet", "apps", "v1", "statefulsets", True, ("sts",)),
    Resource("DaemonSet", "apps", "v1", "daemonsets", True, ("ds",)),
    Resource("Job", "batch", "v1", "jobs", True),
    Resource("CronJob", "batch", "v1", "cronjobs", True, ("cj",)),
)

BY_KIND: dict[str, Resource] = {resource.kind: resource for resource in RESOURCES}
BY_PLURAL: dict[str, Resource] = {resource.plural: resource for resource in RESOURCES}

#: The resources a live read actually requests (``deploy/rbac.yaml`` grants exactly these).
READ_BY_SVCDOCTOR: tuple[str, ...] = (
    "namespaces", "nodes", "services", "pods", "endpoints", "events", "configmaps", "endpointslices",
    "networkpolicies", "ingresses", "deployments", "replicasets", "statefulsets", "daemonsets",
)
