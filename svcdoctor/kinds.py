"""The Kubernetes kinds svcdoctor reads: kind, API group and version, plural, scope, and where
a Snapshot keeps them.

One table shared by every source: the live source (which paths to request), the snapshot file and
manifests sources (which kinds a Snapshot indexes, which are cluster-scoped, where a workload keeps
its Pod template), ``ObjectRef.resource`` (the plural kubectl uses), ``record``, the API server of
``snapshot serve`` (what it serves and advertises in discovery) and ``deploy/rbac.yaml`` (a test
keeps the ClusterRole equal to this table). Secrets are not here on purpose: svcdoctor never reads
them. This module is on the ground floor: it imports nothing of svcdoctor.
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
    #: The :class:`~svcdoctor.snapshot.Snapshot` attribute that holds the objects of this kind.
    attribute: str = ""
    #: Where a workload of this kind keeps its Pod template (``()`` for kinds that are not workloads).
    template: tuple[str, ...] = ()
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
        """The REST path of a list (``name`` empty) or of one object (at ``version``, default the table's)."""
        version = version or self.version
        prefix = f"/apis/{self.group}/{version}" if self.group else f"/api/{version}"
        if self.namespaced and namespace:
            prefix += f"/namespaces/{namespace}"
        path = f"{prefix}/{self.plural}"
        return f"{path}/{name}" if name else path


#: Where most workloads keep their Pod template; a CronJob keeps it one Job deeper.
TEMPLATE = ("spec", "template")
JOB_TEMPLATE = ("spec", "jobTemplate", "spec", "template")

RESOURCES: tuple[Resource, ...] = (
    Resource("Namespace", "", "v1", "namespaces", False, ("ns",), attribute="namespaces"),
    Resource("Node", "", "v1", "nodes", False, ("no",), attribute="nodes"),
    Resource("Service", "", "v1", "services", True, ("svc",), attribute="services"),
    Resource("Pod", "", "v1", "pods", True, ("po",), attribute="pods"),
    Resource("Endpoints", "", "v1", "endpoints", True, ("ep",), attribute="endpoints"),
    Resource("Event", "", "v1", "events", True, ("ev",), attribute="events"),
    Resource("ConfigMap", "", "v1", "configmaps", True, ("cm",), attribute="config_maps"),
    Resource("ReplicationController", "", "v1", "replicationcontrollers", True, ("rc",),
             attribute="replication_controllers", template=TEMPLATE),
    Resource("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", True, attribute="endpoint_slices"),
    Resource("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", True, ("netpol",),
             attribute="network_policies"),
    Resource("Ingress", "networking.k8s.io", "v1", "ingresses", True, ("ing",), attribute="ingresses"),
    Resource("Deployment", "apps", "v1", "deployments", True, ("deploy",), attribute="deployments", template=TEMPLATE),
    Resource("ReplicaSet", "apps", "v1", "replicasets", True, ("rs",), attribute="replica_sets", template=TEMPLATE),
    Resource("StatefulSet", "apps", "v1", "statefulsets", True, ("sts",), attribute="stateful_sets",
             template=TEMPLATE),
    Resource("DaemonSet", "apps", "v1", "daemonsets", True, ("ds",), attribute="daemon_sets", template=TEMPLATE),
    Resource("Job", "batch", "v1", "jobs", True, attribute="jobs", template=TEMPLATE),
    Resource("CronJob", "batch", "v1", "cronjobs", True, ("cj",), attribute="cron_jobs", template=JOB_TEMPLATE),
    # Custom resources: the policy tiers (network-policy-api), Cilium's policies, Gateway API.
    Resource("AdminNetworkPolicy", "policy.networking.k8s.io", "v1alpha1", "adminnetworkpolicies", False,
             ("anp",), attribute="admin_network_policies", custom=True),
    Resource("BaselineAdminNetworkPolicy", "policy.networking.k8s.io", "v1alpha1", "baselineadminnetworkpolicies",
             False, ("banp",), attribute="baseline_admin_network_policies", custom=True),
    Resource("ClusterNetworkPolicy", "policy.networking.k8s.io", "v1alpha2", "clusternetworkpolicies", False,
             ("cnp",), attribute="cluster_network_policies", custom=True),
    Resource("CiliumNetworkPolicy", "cilium.io", "v2", "ciliumnetworkpolicies", True, ("cnp",),
             attribute="cilium_network_policies", custom=True),
    Resource("CiliumClusterwideNetworkPolicy", "cilium.io", "v2", "ciliumclusterwidenetworkpolicies", False,
             ("ccnp",), attribute="cilium_clusterwide_network_policies", custom=True),
    Resource("GatewayClass", "gateway.networking.k8s.io", "v1", "gatewayclasses", False, ("gc",),
             attribute="gateway_classes", custom=True, older_versions=("v1beta1",)),
    Resource("Gateway", "gateway.networking.k8s.io", "v1", "gateways", True, ("gtw",), attribute="gateways",
             custom=True, older_versions=("v1beta1",)),
    Resource("HTTPRoute", "gateway.networking.k8s.io", "v1", "httproutes", True, attribute="http_routes",
             custom=True, older_versions=("v1beta1",)),
    Resource("GRPCRoute", "gateway.networking.k8s.io", "v1", "grpcroutes", True, attribute="grpc_routes",
             custom=True, older_versions=("v1alpha2",)),
    # v1 since gateway-api v1.6, whose standard channel serves no other version of them.
    Resource("TLSRoute", "gateway.networking.k8s.io", "v1", "tlsroutes", True, attribute="tls_routes",
             custom=True, older_versions=("v1alpha3", "v1alpha2")),
    Resource("TCPRoute", "gateway.networking.k8s.io", "v1", "tcproutes", True, attribute="tcp_routes",
             custom=True, older_versions=("v1alpha2",)),
    Resource("UDPRoute", "gateway.networking.k8s.io", "v1", "udproutes", True, attribute="udp_routes",
             custom=True, older_versions=("v1alpha2",)),
    Resource("ReferenceGrant", "gateway.networking.k8s.io", "v1beta1", "referencegrants", True, ("refgrant",),
             attribute="reference_grants", custom=True, older_versions=("v1alpha2",)),
)

#: The cluster-wide custom resources of the policy tiers and of Gateway API (absent CRDs are not an error).
POLICY_KINDS = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy",
                "CiliumClusterwideNetworkPolicy")
GATEWAY_KINDS = ("GatewayClass", "Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")

BY_KIND: dict[str, Resource] = {resource.kind: resource for resource in RESOURCES}
BY_PLURAL: dict[str, Resource] = {resource.plural: resource for resource in RESOURCES}
#: The Snapshot attribute of each kind it keeps.
ATTRIBUTES: dict[str, str] = {resource.kind: resource.attribute for resource in RESOURCES if resource.attribute}
#: Where each workload kind keeps its Pod template.
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {resource.kind: resource.template for resource in RESOURCES
                                              if resource.template}

#: The resources a live read actually requests (``deploy/rbac.yaml`` grants exactly these).
READ_BY_SVCDOCTOR: tuple[str, ...] = (
    "namespaces", "nodes", "services", "pods", "endpoints", "events", "configmaps", "endpointslices",
    "networkpolicies", "ingresses", "deployments", "replicasets", "statefulsets", "daemonsets",
    "adminnetworkpolicies", "baselineadminnetworkpolicies", "clusternetworkpolicies", "ciliumnetworkpolicies",
    "ciliumclusterwidenetworkpolicies", "gatewayclasses", "gateways", "httproutes", "grpcroutes", "tlsroutes",
    "tcproutes", "udproutes", "referencegrants",
)
