"""NodeLocal DNSCache: the ``node-local-dns`` DaemonSet puts a DNS cache on every node, and a
Pod's lookups go to the cache on its own node (on 169.254.20.10, and in kube-proxy's iptables
mode also on the kube-dns ClusterIP, which the cache binds on the node). The cache forwards
cluster names to CoreDNS through the ``kube-dns-upstream`` Service (older manifests: kube-dns
itself)."""

from __future__ import annotations

from svcdoctor import k8s
from svcdoctor.dns.cluster_dns import DNS_NAMESPACE
from svcdoctor.k8s import Obj
from svcdoctor.snapshot import Snapshot

NODE_LOCAL_LABEL = ("k8s-app", "node-local-dns")
NODE_LOCAL_NAME = "node-local-dns"
UPSTREAM_SERVICE = "kube-dns-upstream"
#: The link-local address the manifest binds by default (``__PILLAR__LOCAL__DNS__``).
DEFAULT_ADDRESS = "169.254.20.10"


def node_local_daemon_set(snapshot: Snapshot) -> Obj | None:
    for daemon_set in snapshot.daemon_sets:
        if k8s.namespace(daemon_set) == DNS_NAMESPACE and (
                k8s.name(daemon_set) == NODE_LOCAL_NAME
                or k8s.labels(daemon_set).get(NODE_LOCAL_LABEL[0]) == NODE_LOCAL_LABEL[1]):
            return daemon_set
    return None


def node_local_pods(snapshot: Snapshot) -> list[Obj]:
    return list(snapshot.pods_with_label(DNS_NAMESPACE, *NODE_LOCAL_LABEL))


def local_address(snapshot: Snapshot) -> str:
    """The cache's address: the ``-localip`` argument of its DaemonSet (first address), else the default."""
    daemon_set = node_local_daemon_set(snapshot)
    if daemon_set is not None:
        template = k8s.as_map(k8s.as_map(k8s.spec(daemon_set).get("template")).get("spec"))
        for container in k8s.as_list(template.get("containers")):
            arguments = [str(item) for item in k8s.as_list(k8s.as_map(container).get("args"))]
            for index, argument in enumerate(arguments):
                value = argument.split("=", 1)[1] if argument.startswith("-localip=") else (
                    arguments[index + 1] if argument == "-localip" and index + 1 < len(arguments) else "")
                if value:
                    return value.split(",")[0]
    return DEFAULT_ADDRESS
