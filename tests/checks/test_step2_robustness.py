"""Step-2 checks on odd but loadable objects: they may skip or say unknown, never crash.

A crash inside a check becomes an "internal error" unknown in the report, which hides the real
diagnosis; the objects here are what hand-written manifests and old clusters really contain
(null lists, strings for numbers, missing fields).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from svcdoctor.checks.interface import Context
from svcdoctor.checks.registry import CHECKS
from svcdoctor.findings import Skip, Target, Unknown
from svcdoctor.snapshot import Snapshot

STEP2 = [check for check in CHECKS if check.step == 2]

scalars = st.one_of(st.none(), st.integers(-5, 70000), st.text(max_size=12), st.booleans())
port_values = st.one_of(scalars, st.sampled_from(["http", "8080", "", "web"]))
service_ports = st.lists(st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.none(), st.sampled_from(["http", "", "web"])),
    "port": port_values, "targetPort": port_values, "nodePort": port_values,
    "protocol": st.one_of(st.none(), st.sampled_from(["TCP", "UDP", "SCTP", "tcp"])),
}), max_size=3)
specs = st.fixed_dictionaries({
    # Mostly a selector that picks the Pod, so that the port checks get past "no Pods".
    "selector": st.sampled_from([{"app": "web"}] * 4 + [None, {}]),
    "ports": st.one_of(st.none(), service_ports, service_ports),
}, optional={
    "type": st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName", "", None]),
    "clusterIP": st.sampled_from(["None", "10.96.0.10", "", None]),
    "externalName": st.one_of(st.none(), st.text(max_size=20), st.just("db.example.com")),
    "externalTrafficPolicy": st.sampled_from(["Local", "Cluster", None]),
    "internalTrafficPolicy": st.sampled_from(["Local", "Cluster", None]),
    "sessionAffinity": st.sampled_from(["ClientIP", "None", None]),
    "sessionAffinityConfig": st.one_of(st.none(), st.just({"clientIP": {"timeoutSeconds": "x"}})),
    "externalIPs": st.one_of(st.none(), st.lists(st.text(max_size=8), max_size=2)),
    "trafficDistribution": st.sampled_from(["PreferClose", "Other", None]),
})
container_ports = st.one_of(st.none(), st.lists(st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.none(), st.sampled_from(["http", "web", ""])), "containerPort": port_values,
    "protocol": st.one_of(st.none(), st.sampled_from(["TCP", "UDP"])),
}), max_size=3))
backend_ports = st.one_of(st.none(), st.just({}), st.fixed_dictionaries({}, optional={
    "number": port_values, "name": port_values}))


def _objects(spec: dict[str, Any], ports: Any, backend_port: Any, status: Any) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}, "spec": spec,
         "status": status},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop",
                                                         "labels": {"app": "web"}},
         "spec": {"nodeName": "node-a", "containers": [{"name": "c", "ports": ports}, "not a container"]},
         "status": {"phase": "Running", "podIP": "10.244.0.5"}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}, "status": {"conditions": None}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "web-x", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
         "endpoints": [{"addresses": ["10.244.0.5"], "nodeName": "node-a", "hints": {"forZones": None}}],
         "ports": None},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"defaultBackend": {"service": {"name": "web", "port": backend_port}},
                  "rules": [{"http": {"paths": [{"backend": {"serviceName": "web", "servicePort": backend_port}},
                                                None]}}, {"host": "x"}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"serviceName": "web", "template": {"metadata": {"labels": None}}}},
    ]


@example(spec={"selector": {"app": "web"}, "ports": [{"port": ":"}]}, ports=None, backend_port=None, status=None,
         static=False)
@example(spec={"selector": {"app": "web"}, "type": "NodePort",
               "ports": [{"port": "80", "targetPort": "8080", "nodePort": "3x"}]},
         ports=[{"containerPort": "http"}], backend_port={"number": "80"}, status=None, static=True)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs, ports=container_ports, backend_port=backend_ports,
       status=st.one_of(st.none(), st.just({"loadBalancer": {"ingress": [{"ip": ""}, "x"]}}), st.just({})),
       static=st.booleans())
def test_step2_checks_never_crash(spec: dict[str, Any], ports: Any, backend_port: Any, status: Any,
                                  static: bool) -> None:
    snapshot = Snapshot(_objects(spec, ports, backend_port, status), static=static)
    context = Context(snapshot, Target("shop", "web"))
    for check in STEP2:
        try:
            findings = list(check.run(context))
        except (Skip, Unknown):
            continue
        for finding in findings:
            assert finding.id == check.id and finding.message and finding.fix
