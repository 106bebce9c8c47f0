"""SD206, SD209, SD210, SD212, SD213: ExternalName, selector-less, headless, notes, Ingress backends."""

from __future__ import annotations

from typing import Any

import pytest

from svcdoctor.checks.sd206_external_name_invalid import dns1123_subdomain_problem
from svcdoctor.findings import Severity
from svcdoctor.k8s import ObjectRef
from svcdoctor.snapshot import DNSAnswer
from svcdoctor.testing.cluster import ClusterBuilder
from tests.checks.step2 import HTTP, cluster, diagnose, found, only, snapshot, status

# -- SD206 ExternalName ------------------------------------------------------------------------------


def _external(external_name: str | None) -> ClusterBuilder:
    b = cluster(1)
    service = b.service("shop", "db", None, [{"name": "pg", "port": 5432}], type="ExternalName",
                        external_name=external_name or "placeholder.example.com")
    if external_name is None:
        del service["spec"]["externalName"]
    return b


@pytest.mark.parametrize(("name", "problem"), [
    ("db.example.com", ""), ("db.example.com.", ""), ("a" * 63 + ".example.com", ""),
    ("DB.example.com", "upper-case"), ("db..example.com", "empty label"), ("-db.example.com", "'-db'"),
    ("db_primary.example.com", "'db_primary'"), ("a" * 64 + ".example.com", "longer than 63"),
    ("https://db.example.com", "'https:"),
])
def test_sd206_dns_1123_rules(name: str, problem: str) -> None:
    found_problem = dns1123_subdomain_problem(name[:-1] if name.endswith(".") else name)
    assert (problem in found_problem) if problem else found_problem == ""


@pytest.mark.parametrize(("external_name", "words"), [
    (None, "has no spec.externalName"), ("10.40.12.7", "IP address"), ("Postgres.Example.com", "upper-case"),
    ("db.example.com:5432", "not a valid DNS name"),
])
def test_sd206_invalid_external_names_are_errors(external_name: str | None, words: str) -> None:
    report = diagnose(snapshot(_external(external_name)), "db")
    finding = only(report, "SD206")
    assert finding.severity is Severity.ERROR and report.verdict == "unreachable"
    assert words in finding.message and finding.subject_field == "spec.externalName"


def test_sd206_never_claims_a_valid_name_fails_without_a_recorded_answer() -> None:
    report = diagnose(snapshot(_external("db.example.com"), static=True), "db")
    assert not found(report, "SD206") and report.verdict == "ok"


def test_sd206_uses_recorded_answers() -> None:
    nxdomain = DNSAnswer("db.example.com", "A", "NXDOMAIN", source="shop/web-1")
    report = diagnose(snapshot(_external("db.example.com"), dns=[nxdomain]), "db")
    assert "does not exist (NXDOMAIN)" in only(report, "SD206").message
    resolved = [nxdomain, DNSAnswer("db.example.com.", "A", "NOERROR", ("198.51.100.4",))]
    assert not found(diagnose(snapshot(_external("db.example.com"), dns=resolved), "db"), "SD206")
    servfail = diagnose(snapshot(_external("db.example.com"), dns=[DNSAnswer("db.example.com", "A", "SERVFAIL")]),
                        "db")
    assert only(servfail, "SD206").severity is Severity.WARNING and servfail.verdict == "unknown"


def test_sd206_service_name_answers_count_only_with_the_cname() -> None:
    fqdn = "db.shop.svc.cluster.local"
    broken_dns = DNSAnswer(fqdn, "A", "SERVFAIL")  # cluster DNS trouble, not the alias's fault
    assert not found(diagnose(snapshot(_external("db.example.com"), dns=[broken_dns]), "db"), "SD206")
    dangling = DNSAnswer(fqdn, "A", "NXDOMAIN", ({"type": "CNAME", "value": "db.example.com."},))
    assert found(diagnose(snapshot(_external("db.example.com"), dns=[dangling]), "db"), "SD206")


def test_sd206_points_at_a_missing_in_cluster_service() -> None:
    b = _external("postgres.data.svc.cluster.local")
    b.namespace("data")
    finding = only(diagnose(snapshot(b), "db"), "SD206")
    assert "no Service postgres in namespace data" in finding.message
    b.service("data", "postgres", {"app": "pg"}, [{"port": 5432}])
    assert not found(diagnose(snapshot(b), "db"), "SD206")


# -- SD209 selector-less -------------------------------------------------------------------------------


def test_sd209_without_endpoints_is_the_cause_of_no_endpoints() -> None:
    b = cluster(1)
    b.deployment("shop", "web", {"app": "web"}, [b.container("web", "web:1", HTTP)])
    b.service("shop", "web", {"app": "web"}, [{"port": 80, "targetPort": 8080}])
    b.service("shop", "legacy-db", None, [{"name": "mysql", "port": 3306}])
    report = diagnose(snapshot(b), "legacy-db")
    finding = only(report, "SD209")
    assert finding.severity is Severity.ERROR and report.findings[0].id == "SD209"
    assert only(report, "SD501").caused_by == "SD209"
    assert "Add a spec.selector" in finding.fix


def test_sd209_names_a_slice_without_the_service_name_label() -> None:
    b = cluster(1)
    b.service("shop", "legacy-db", None, [{"name": "mysql", "port": 3306}])
    b.endpoint_slice("shop", "legacy-db-1", ["10.40.12.7"], [{"name": "mysql", "port": 3306}])
    b.endpoint_slice("shop", "unrelated", ["10.40.12.8"], [{"port": 80}], service_name="other")
    finding = only(diagnose(snapshot(b), "legacy-db"), "SD209")
    assert "EndpointSlice legacy-db-1 looks meant for it but has no kubernetes.io/service-name label" in finding.message
    assert "unrelated" not in finding.message


def test_sd209_silent_with_manual_endpoints_and_for_external_name() -> None:
    b = cluster(1)
    b.service("shop", "legacy-db", None, [{"name": "mysql", "port": 3306}])
    b.endpoint_slice("shop", "legacy-db-1", ["10.40.12.7"], [{"name": "mysql", "port": 3306}],
                     service_name="legacy-db")
    b.service("shop", "alias", None, [], type="ExternalName", external_name="db.example.com")
    snap = snapshot(b)
    report = diagnose(snap, "legacy-db")
    assert not found(report, "SD209") and not found(report, "SD501")
    assert status(diagnose(snap, "alias"), "SD209") == "skipped"


def test_sd209_is_not_checked_when_no_endpoints_were_recorded_at_all() -> None:
    b = cluster(1)
    b.service("shop", "legacy-db", None, [{"name": "mysql", "port": 3306}])
    assert status(diagnose(snapshot(b), "legacy-db"), "SD209") == "not-checked"
    listed = {"apiVersion": "svcdoctor.dev/v1", "kind": "SnapshotInfo",
              "recorded": [{"kind": "EndpointSlice"}, {"kind": "Endpoints"}]}
    # When the snapshot says they were listed, none there means none exist: SD209 speaks.
    assert found(diagnose(snapshot(cluster(1), objects=[*b.build(), listed]), "legacy-db"), "SD209")
    assert found(diagnose(snapshot(b, static=True), "legacy-db"), "SD209")  # manifests: absence is meaningful


# -- SD210 headless / StatefulSet -----------------------------------------------------------------------


#: How etcd members find each other: through the per-Pod names of the governing Service.
PEERS = ["--initial-cluster=etcd-0=http://etcd-0.etcd:2380,etcd-1=http://etcd-1.etcd:2380",
         "--initial-advertise-peer-urls=http://$(HOSTNAME).etcd:2380"]


def _stateful(service_name: str, headless: bool, governing: str, extra_headless: str | None = None,
              args: list[str] | None = None) -> list[Any]:
    b = cluster(3)
    ports = [{"name": "client", "containerPort": 2379}]
    b.stateful_set("shop", "etcd", {"app": "etcd"}, [b.container("etcd", "etcd:3.5", ports, args=args or PEERS)],
                   service_name=governing, replicas=3)
    b.service("shop", service_name, {"app": "etcd"}, [{"name": "client", "port": 2379, "targetPort": "client"}],
              headless=headless)
    if extra_headless:
        b.service("shop", extra_headless, {"app": "etcd"},
                  [{"name": "client", "port": 2379, "targetPort": "client"}], headless=True)
    return b.build()


def test_sd210_governing_service_not_headless() -> None:
    report = diagnose(snapshot(cluster(), objects=_stateful("etcd", False, "etcd")), "etcd")
    finding = only(report, "SD210")
    assert finding.severity is Severity.WARNING and report.verdict == "degraded"
    assert "etcd-0.etcd.shop.svc.cluster.local" in finding.message
    assert finding.subject_field == "spec.clusterIP"


def test_sd210_selecting_service_whose_governing_service_is_missing() -> None:
    report = diagnose(snapshot(cluster(), objects=_stateful("etcd-headless", True, "etcd")), "etcd-headless")
    finding = only(report, "SD210")
    assert "'etcd' (spec.serviceName) does not exist" in finding.message
    assert "was serviceName meant to be 'etcd-headless'?" in finding.message
    assert finding.severity is Severity.WARNING
    # Located at the StatefulSet's serviceName, where the fix goes, not at the Service's selector.
    assert (finding.subject, finding.subject_field) == (ObjectRef("StatefulSet", "shop", "etcd"), "spec.serviceName")


@pytest.mark.parametrize("governing", ["etcd", "etcd-typo"])
def test_sd210_is_a_note_when_nothing_uses_the_per_pod_names(governing: str) -> None:
    # A serviceName naming a missing or non-headless Service is harmless while no one uses etcd-0.etcd…
    objects = _stateful("etcd", governing != "etcd", governing, args=["--listen-client-urls=http://0.0.0.0:2379"])
    report = diagnose(snapshot(cluster(), objects=objects), "etcd")
    finding = only(report, "SD210")
    assert finding.severity is Severity.INFO and report.verdict == "ok"
    assert "Nothing in the input uses them" in finding.message


def test_sd210_per_pod_names_in_a_config_map_count_as_use() -> None:
    objects = _stateful("etcd", False, "etcd", args=["--config-file=/etc/etcd/etcd.conf"])
    objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "etcd", "namespace": "shop"},
                    "data": {"etcd.conf": "initial-cluster: etcd-0=http://etcd-0.etcd.shop.svc:2380\n"}})
    finding = only(diagnose(snapshot(cluster(), objects=objects), "etcd"), "SD210")
    assert finding.severity is Severity.WARNING and "'etcd-0.etcd'" in finding.message


def test_sd210_client_facing_service_next_to_a_proper_governing_one_is_fine() -> None:
    objects = _stateful("etcd-client", False, "etcd", extra_headless="etcd")
    snap = snapshot(cluster(), objects=objects)
    assert not found(diagnose(snap, "etcd-client"), "SD210")
    assert not found(diagnose(snap, "etcd"), "SD210")


def test_sd210_headless_without_ports_is_a_note() -> None:
    b = cluster(1)
    b.deployment("shop", "peers", {"app": "peers"}, [b.container("p", "p:1", HTTP)])
    b.service("shop", "peers", {"app": "peers"}, [], headless=True)
    report = diagnose(snapshot(b), "peers")
    assert only(report, "SD210").severity is Severity.INFO and report.verdict == "ok"


# -- SD212 notes ---------------------------------------------------------------------------------------------


def test_sd212_affinity_and_external_ips_are_notes() -> None:
    b = cluster(1)
    b.deployment("shop", "web", {"app": "web"}, [b.container("web", "web:1", HTTP)])
    b.service("shop", "web", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": "http"}],
              sessionAffinity="ClientIP", externalIPs=["192.0.2.50"])
    b.service("shop", "short", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": "http"}],
              sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}})
    snap = snapshot(b)
    report = diagnose(snap, "web")
    notes = found(report, "SD212")
    assert [f.severity for f in notes] == [Severity.INFO, Severity.INFO] and report.verdict == "ok"
    assert "3 hours after its last connection (the default)" in notes[0].message
    assert "CVE-2020-8554" in notes[1].message
    assert "10 minutes" in only(diagnose(snap, "short"), "SD212").message


# -- SD213 Ingress backends ---------------------------------------------------------------------------------


def _ingress_cluster(service_ports: list[dict[str, Any]], spec: dict[str, Any],
                     api_version: str = "networking.k8s.io/v1") -> ClusterBuilder:
    b = cluster(1)
    b.deployment("shop", "web", {"app": "web"}, [b.container("web", "web:1", HTTP)])
    b.service("shop", "web", {"app": "web"}, service_ports)
    ingress = b.ingress("shop", "web", [])
    ingress["apiVersion"] = api_version
    ingress["spec"] = spec
    return b


def _v1(port: dict[str, Any], service: str = "web") -> dict[str, Any]:
    return {"rules": [{"host": "shop.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": port}}}]}}]}


def test_sd213_number_must_be_a_service_port_even_for_an_unnamed_port() -> None:
    # The peers' latent bug: "" == "" must not make an unnamed port match a wrong number.
    b = _ingress_cluster([{"port": 80, "targetPort": 8080}], _v1({"number": 8080}))
    report = diagnose(snapshot(b), "web")
    finding = only(report, "SD213")
    assert finding.severity is Severity.ERROR and report.verdict == "degraded"
    assert "8080 is the container port behind Service port 80/TCP; a backend names the Service port, 80" \
        in finding.message
    assert finding.subject_field == "spec.rules[0].http.paths[0].backend.service.port.number"
    assert "shop.example.com/ → web with port number 8080" in finding.message
    assert finding.fix == "In Ingress web, set spec.rules[0].http.paths[0].backend.service.port.number to 80."
    assert not found(diagnose(snapshot(_ingress_cluster([{"port": 80, "targetPort": 8080}], _v1({"number": 80}))),
                              "web"), "SD213")


def test_sd213_port_names_default_backend_and_other_services() -> None:
    ports = [{"name": "http", "port": 80, "targetPort": "http"}]
    spec = {"defaultBackend": {"service": {"name": "web", "port": {"name": "htpp"}}},
            **_v1({"name": "http"}), }
    spec["rules"][0]["http"]["paths"].append(
        {"path": "/other", "pathType": "Prefix", "backend": {"service": {"name": "other", "port": {"number": 1}}}})
    finding = only(diagnose(snapshot(_ingress_cluster(ports, spec)), "web"), "SD213")
    assert "the default backend → web with port name 'htpp' (did you mean 'http'?)" in finding.message
    assert "/other" not in finding.message and "rules[0]" not in finding.subject_field
    assert "set spec.defaultBackend.service.port.name to http" in finding.fix


def test_sd213_backend_without_port() -> None:
    ports = [{"name": "http", "port": 80, "targetPort": "http"}]
    finding = only(diagnose(snapshot(_ingress_cluster(ports, _v1({}))), "web"), "SD213")
    assert "with no port" in finding.message


@pytest.mark.parametrize(("service_port", "fires"), [(5601, False), ("5601", False), ("http", False),
                                                     (8080, True), ("web", True), (None, True)])
def test_sd213_reads_the_v1beta1_shape(service_port: Any, fires: bool) -> None:
    ports = [{"name": "http", "port": 5601, "targetPort": "http"}]
    backend: dict[str, Any] = {"serviceName": "web"}
    if service_port is not None:
        backend["servicePort"] = service_port
    spec = {"rules": [{"http": {"paths": [{"path": "/", "backend": backend}]}}]}
    report = diagnose(snapshot(_ingress_cluster(ports, spec, "extensions/v1beta1")), "web")
    assert bool(found(report, "SD213")) is fires
