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
    #: Served by a CustomResourceDefinition that may not be installed: a 404 means "none exist".
    custom: bool = False
    #: Older versions to ask for when ``version`` is not served (Gateway API v1beta1 before v1).
    older_versions: tuple[str, ...] = ()

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

    def path(self, namespace: str = "", name: str = "", version: str = "") -> str:
        """The REST path of a list (``name`` empty) or of one object."""
        version = version or self.version
        prefix = f"/apis/{self.group}/{version}" if self.group else f"/api/{version}"
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
    Resource("AdminNetworkPolicy", "policy.networking.k8s.io", "v1alpha1", "adminnetworkpolicies", False,
             ("anp",), custom=True),
    Resource("BaselineAdminNetworkPolicy", "policy.networking.k8s.io", "v1alpha1", "baselineadminnetworkpolicies",
             False, ("banp",), custom=True),
    Resource("ClusterNetworkPolicy", "policy.networking.k8s.io", "v1alpha2", "clusternetworkpolicies", False,
             ("cnp",), custom=True),
    Resource("CiliumNetworkPolicy", "cilium.io", "v2", "ciliumnetworkpolicies", True, ("cnp",), custom=True),
    Resource("CiliumClusterwideNetworkPolicy", "cilium.io", "v2", "ciliumclusterwidenetworkpolicies", False,
             ("ccnp",), custom=True),
    Resource("GatewayClass", "gateway.networking.k8s.io", "v1", "gatewayclasses", False, ("gc",), custom=True,
             older_versions=("v1beta1",)),
    Resource("Gateway", "gateway.networking.k8s.io", "v1", "gateways", True, ("gtw",), custom=True,
             older_versions=("v1beta1",)),
    Resource("HTTPRoute", "gateway.networking.k8s.io", "v1", "httproutes", True, custom=True,
             older_versions=("v1beta1",)),
    Resource("GRPCRoute", "gateway.networking.k8s.io", "v1", "grpcroutes", True, custom=True,
             older_versions=("v1alpha2",)),
    Resource("TLSRoute", "gateway.networking.k8s.io", "v1alpha2", "tlsroutes", True, custom=True),
    Resource("TCPRoute", "gateway.networking.k8s.io", "v1alpha2", "tcproutes", True, custom=True),
    Resource("UDPRoute", "gateway.networking.k8s.io", "v1alpha2", "udproutes", True, custom=True),
    Resource("ReferenceGrant", "gateway.networking.k8s.io", "v1beta1", "referencegrants", True, ("refgrant",),
             custom=True, older_versions=("v1alpha2",)),
)

#: The custom resources of the policy tiers and of Gateway API (absent CRDs are not an error).
POLICY_KINDS = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy",
                "CiliumClusterwideNetworkPolicy")
GATEWAY_KINDS = ("GatewayClass", "Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")

BY_KIND: dict[str, Resource] = {resource.kind: resource for resource in RESOURCES}
BY_PLURAL: dict[str, Resource] = {resource.plural: resource for resource in RESOURCES}

#: The resources a live read actually requests (``deploy/rbac.yaml`` grants exactly these).
READ_BY_SVCDOCTOR: tuple[str, ...] = (
    "namespaces", "nodes", "services", "pods", "endpoints", "events", "configmaps", "endpointslices",
    "networkpolicies", "ingresses", "deployments", "replicasets", "statefulsets", "daemonsets",
    "adminnetworkpolicies", "baselineadminnetworkpolicies", "clusternetworkpolicies", "ciliumnetworkpolicies",
    "ciliumclusterwidenetworkpolicies", "gatewayclasses", "gateways", "httproutes", "grpcroutes", "tlsroutes",
    "tcproutes", "udproutes", "referencegrants",
)
