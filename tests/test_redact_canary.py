"""A cluster whose every name and secret is a canary, served over the real API and recorded with --redact.

Every identifier below contains ``cnry`` and every secret is a canary of its own; after
``svcdoctor record --redact`` none of them may be in the file, and the redacted recording must
still give the original diagnosis under the pseudonym ``record`` prints.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from svcdoctor.serve.apiserver import ServerOptions, SnapshotAPIServer
from svcdoctor.testing.cluster import ClusterBuilder
from tests.conftest import run_cli

Obj = dict[str, Any]
#: Secrets that do not contain "cnry" (digits, an account ID, addresses).
OTHER_CANARIES = ("4815162342", "123456789012", "172.31.77.5", "172.31.77.6", "fd00:cafe::17", "10.9.8.7",
                  "203.0.113.77", "198.51.100.8")


def canary_cluster() -> list[Obj]:
    b = ClusterBuilder()
    b.snapshot_info(context="cnry-admin@cnry-cluster")
    b.namespace("cnryshop", {"team": "cnryteam"})
    b.namespace("kube-system")
    node_a = b.node("cnrynode-a", "172.31.77.5", zone="zone-a", pod_cidr="10.244.0.0/24")
    node_a["spec"]["providerID"] = "aws:///us-east-1a/i-0cnry1234"
    node_a["status"]["addresses"].append({"type": "ExternalDNS", "address": "cnry-ec2.compute.amazonaws.com"})
    b.node("cnrynode-b", "172.31.77.6", zone="zone-b", pod_cidr="10.244.1.0/24")
    probe = {"httpGet": {"path": "/cnrypath?key=cnrykey", "port": "http", "host": "cnryprobehost",
                         "httpHeaders": [{"name": "Authorization", "value": "Bearer cnrybearertoken"}]},
             "periodSeconds": 10}
    http = [{"name": "http", "containerPort": 8080}]
    backend = b.container("cnryapp", "cnryregistry.example/cnryimage:1.0", http, readiness=probe,
                          env=[{"name": "DATABASE_URL", "value": "postgres://cnryuser:cnrypw@cnrydb:5432/cnrydb"},
                               {"name": "PIN", "value": "4815162342"},
                               {"name": "SYMBOLS", "value": "!@#$%^&*()"},
                               {"name": "BACKEND", "value": "http://cnrybackend:80/?api_key=cnryapikey"}],
                          args=["--token=cnryargtoken", "--listen=:8080"])
    pods = b.deployment("cnryshop", "cnrybackend", {"app": "cnrybackend", "feature": "true"}, [backend], replicas=2,
                        states=["running", "notready"],
                        extra_spec={"nodeSelector": {"kubernetes.io/hostname": "cnrynode-a"},
                                    "hostAliases": [{"ip": "203.0.113.77", "hostnames": ["cnryalias.corp"]}],
                                    "dnsConfig": {"searches": ["cnrysearch.corp"], "nameservers": ["198.51.100.8"]},
                                    "volumes": [{"name": "cnryvolume",
                                                 "awsElasticBlockStore": {"volumeID": "vol-0cnry"}}]})
    pods[1]["status"]["containerStatuses"][0]["lastState"] = {
        "terminated": {"exitCode": 1, "reason": "Error", "message": "panic: cnrypanic password=cnrytermpw"}}
    for pod in pods:
        pod["metadata"]["annotations"] = {
            "kubectl.kubernetes.io/last-applied-configuration": '{"cnry": "cnrylastapplied"}',
            "kubernetes.io/change-cause": "kubectl apply --token=cnrychangecause",
            "nginx.ingress.kubernetes.io/configuration-snippet": "auth_basic cnrybasic:cnrybasicpw;"}
        pod["metadata"]["managedFields"] = [{"manager": "cnrymanager", "operation": "Update"}]
    b.service("cnryshop", "cnrybackend", {"app": "cnrybackend", "feature": "true"},
              [{"name": "http", "port": 80, "targetPort": "http"}])
    service = b.objects[-1]
    service["metadata"]["annotations"] = {
        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert":
            "arn:aws:acm:us-east-1:123456789012:certificate/cnrycert",
        "external-dns.alpha.kubernetes.io/hostname": "cnryapi.cnrycorp.example"}
    b.stateful_set("cnryshop", "cnrydb", {"app": "cnrydb"}, [b.container("cnrydb", "cnrypostgres:16")],
                   service_name="cnrydb", replicas=1)
    b.service("cnryshop", "cnrydb", {"app": "cnrydb"}, [{"name": "pg", "port": 5432, "targetPort": 5432}],
              headless=True)
    ingress = b.ingress("cnryshop", "cnryingress", [{"host": "cnryshop.cnrycorp.example",
                                                     "paths": [{"service": "cnrybackend", "port": 80}]}])
    ingress["status"] = {"loadBalancer": {"ingress": [{"hostname": "cnrylb.elb.amazonaws.com"}]}}
    b.event(pods[1], "Unhealthy", 'Readiness probe failed: Get "http://[fd00:cafe::17]:8080/cnrypath": dial tcp '
            "10.9.8.7:8080: connect: connection refused by 10.9.8.7. cnryprobeoutput")
    b.event(service, "Ensured", "cnryevent for cnryapi.cnrycorp.example")
    dns = [{"name": "dns", "containerPort": 53, "protocol": "UDP"}, {"name": "dns-tcp", "containerPort": 53}]
    b.deployment("kube-system", "coredns", {"k8s-app": "kube-dns"}, [b.container("coredns", "coredns:1.11", dns)])
    b.service("kube-system", "kube-dns", {"k8s-app": "kube-dns"},
              [{"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
               {"name": "dns-tcp", "port": 53, "targetPort": 53}], labels={"k8s-app": "kube-dns"})
    b.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
           "data": {"Corefile": ".:53 {\n    kubernetes cnryzone.internal in-addr.arpa ip6.arpa\n"
                                "    forward . 203.0.113.77 cnryupstream.corp\n}\n"}})
    return b.build()


def test_a_redacted_recording_holds_no_canary_and_keeps_the_diagnosis(tmp_path: Path) -> None:
    objects = canary_cluster()
    options = ServerOptions(forbid={"ingresses"}, user="cnryuser@cnrycorp.example")
    with SnapshotAPIServer(objects, options=options) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="cnryshop")
        plain = run_cli("check", "cnrybackend", "--kubeconfig", config, "-o", "json")
        recorded = tmp_path / "shared.yaml"
        mapping = tmp_path / "map.json"
        result = run_cli("record", "cnrybackend", "--redact", "--redact-map", str(mapping), "-o", str(recorded),
                         "--kubeconfig", config)
    assert result.exit_code == 0, result.stderr
    text = recorded.read_text()
    leaks = sorted(set(re.findall(r"[^\s\"']*cnry[^\s\"']*", text, re.IGNORECASE)))
    assert not leaks, leaks
    assert not [canary for canary in OTHER_CANARIES if canary in text]
    assert stat.S_IMODE(recorded.stat().st_mode) == 0o600 and stat.S_IMODE(mapping.stat().st_mode) == 0o600
    assert json.loads(mapping.read_text())["names"]["cnrybackend"]

    said = re.search(r"Service cnryshop/cnrybackend is (\S+)/(\S+) in the redacted file", result.stderr)
    assert said, result.stderr
    replay = run_cli("check", said.group(2), "-n", said.group(1), "--snapshot", str(recorded), "-o", "json")
    assert replay.json()["verdict"] == plain.json()["verdict"]
    assert [f["id"] for f in replay.json()["findings"]] == [f["id"] for f in plain.json()["findings"]]
    assert plain.json()["findings"], "the canary cluster has something to diagnose"
    original_name = run_cli("check", "cnrybackend", "-n", "cnryshop", "--snapshot", str(recorded), "-o", "json").json()
    sd101 = original_name["findings"][0]
    assert sd101["id"] == "SD101" and "redacted" in sd101["message"] and "Did you mean" not in sd101["message"]


def test_a_plain_recording_has_no_inline_env_value_managed_fields_or_last_applied(tmp_path: Path) -> None:
    with SnapshotAPIServer(canary_cluster()) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="cnryshop")
        recorded = tmp_path / "plain.yaml"
        result = run_cli("record", "cnrybackend", "-o", str(recorded), "--kubeconfig", config)
        assert result.exit_code == 0, result.stderr
        plain = run_cli("check", "cnrybackend", "--kubeconfig", config, "-o", "json").json()
    text = recorded.read_text()
    for secret in ("cnrypw", "4815162342", "cnryapikey", "cnryargtoken", "cnrybearertoken", "managedFields",
                   "last-applied", "cnrylastapplied"):
        assert secret not in text, secret
    document = yaml.safe_load(text)
    values = [variable.get("value") for item in document["items"] if item["kind"] == "Pod"
              for container in item["spec"]["containers"] for variable in container.get("env") or []]
    assert values and "postgres://<masked>@cnrydb:5432/<masked>" in values
    assert stat.S_IMODE(recorded.stat().st_mode) == 0o600
    report = json.dumps(plain)
    for secret in ("cnrypw", "cnrybearertoken", "cnrykey", "cnryargtoken"):  # reports mask as recordings do
        assert secret not in report, secret
    replay = run_cli("check", "cnrybackend", "-n", "cnryshop", "--snapshot", str(recorded), "-o", "json").json()
    assert [f["id"] for f in replay["findings"]] == [f["id"] for f in plain["findings"]]
    assert replay["verdict"] == plain["verdict"]
