"""flannel's objects as its manifest (kube-flannel.yml) creates them: the ``kube-flannel``
namespace, the ``kube-flannel-cfg`` ConfigMap with ``cni-conf.json`` and ``net-conf.json``, and
the ``kube-flannel-ds`` DaemonSet."""

from __future__ import annotations

import json
from typing import Any


def cni_conf(hairpin: bool | None) -> str:
    """flannel's ``cni-conf.json``: the manifest's (``hairpinMode: true``), or without the key / set off."""
    delegate: dict[str, Any] = {"hairpinMode": hairpin, "isDefaultGateway": True}
    if hairpin is None:
        del delegate["hairpinMode"]
    document = {"name": "cbr0", "cniVersion": "0.3.1",
                "plugins": [{"type": "flannel", "delegate": delegate},
                            {"type": "portmap", "capabilities": {"portMappings": True}}]}
    return json.dumps(document, indent=2) + "\n"


def flannel(builder: Any, *, hairpin: bool | None = True, namespace: str = "kube-flannel") -> None:
    builder.namespace(namespace)
    labels = {"app": "flannel", "k8s-app": "flannel", "tier": "node"}
    builder.add({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": builder._meta("ConfigMap", namespace, "kube-flannel-cfg", labels),
                 "data": {"cni-conf.json": cni_conf(hairpin),
                          "net-conf.json": json.dumps({"Network": "10.244.0.0/16", "EnableNFTables": False,
                                                       "Backend": {"Type": "vxlan"}}, indent=2) + "\n"}})
    container = builder.container("kube-flannel", "ghcr.io/flannel-io/flannel:v0.26.1",
                                  command=["/opt/bin/flanneld"], args=["--ip-masq", "--kube-subnet-mgr"],
                                  securityContext={"privileged": False, "capabilities": {"add": ["NET_ADMIN",
                                                                                               "NET_RAW"]}})
    builder.add({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": builder._meta("DaemonSet", namespace, "kube-flannel-ds", labels, generation=1),
        "spec": {"selector": {"matchLabels": {"app": "flannel"}},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [container], "hostNetwork": True,
                                       "serviceAccountName": "flannel"}}},
        "status": {"currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberAvailable": 1,
                   "numberReady": 1, "numberMisscheduled": 0, "observedGeneration": 1, "updatedNumberScheduled": 1},
    })
