"""``svcdoctor record`` (a live cluster → a snapshot file, never Secrets) and ``svcdoctor redact`` (offline)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from svcdoctor.cli.options import (
    AllNamespacesOption,
    ContextOption,
    DnsServerOption,
    KubeconfigOption,
    MaxProbesOption,
    NoProgressOption,
    ProbeTimeoutOption,
    TimeoutOption,
    VerboseOption,
    from_pod_option,
    namespace_option,
    node_dump_option,
    probe_option,
)
from svcdoctor.errors import EXIT_OK, InputError

#: Above this many objects ``record`` writes JSON: PyYAML's C loader is ~50× slower than json.loads.
YAML_OBJECT_LIMIT = 2000


def record(
    name: Annotated[str | None, typer.Argument(help="Record only what this Service's check reads.")] = None,
    namespace: Annotated[str | None, namespace_option("The namespace to record.")] = None,
    all_namespaces: AllNamespacesOption = False,
    output: Annotated[str, typer.Option("--output", "-o", help="The file to write ('-': stdout).")] = "-",
    output_format: Annotated[
        str, typer.Option("--format", help="auto | yaml | json (auto: json for .json files and large snapshots).")
    ] = "auto",
    redact: Annotated[
        bool, typer.Option("--redact", help="Replace names, namespaces, label values and IPs with pseudonyms; "
                                            "drop everything the checks do not read.")
    ] = False,
    redact_map: Annotated[
        str | None, typer.Option("--redact-map", help="With --redact: write the original → pseudonym map to this "
                                                      "local file (it undoes the redaction; do not share it).")
    ] = None,
    from_pod: Annotated[
        str | None, from_pod_option("Also record this client Pod, NAMESPACE/POD (or POD in -n).")
    ] = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    request_timeout: TimeoutOption = "10s",
    verbose: VerboseOption = False,
    node_dump: Annotated[
        list[str] | None, node_dump_option("A NodeDump file to add to the recording; repeatable.")
    ] = None,
    probe: Annotated[
        bool, probe_option("Also send the probes and DNS questions of check --probe and record them.")
    ] = False,
    probe_timeout: ProbeTimeoutOption = 2.0,
    max_probes: MaxProbesOption = 64,
    dns_server: DnsServerOption = None,
    no_progress: NoProgressOption = False,
) -> int:
    """Record what svcdoctor reads from the cluster into a snapshot file (never Secrets)."""
    from svcdoctor.app import Invocation, split_pod
    from svcdoctor.cli.progress import progress
    from svcdoctor.minimal import minimal
    from svcdoctor.sources.interface import Request
    from svcdoctor.sources.live import LiveSource

    if output_format not in ("auto", "yaml", "json"):
        raise InputError(f"--format: {output_format!r} is not one of auto, yaml, json")  # before reading
    if all_namespaces and (name or namespace):
        raise InputError("-A records every namespace: give it without -n and without a Service name")
    if probe and not name:
        raise InputError("record --probe needs the Service's name: probes are sent for one Service")
    with progress(no_progress) as shown:
        source = LiveSource(kubeconfig=kubeconfig, context=context, request_timeout=request_timeout,
                            verbose=verbose, progress=shown)
        target_namespace = "" if all_namespaces else namespace or source.default_namespace()
        client_pod = ""
        if from_pod:
            client_pod = "/".join(split_pod(from_pod, target_namespace or "default"))
        request = Request(namespace=target_namespace, service=name or "", all_namespaces=all_namespaces,
                          client_pod=client_pod)
        evidence = _node_dump_objects(node_dump or [])
        result = source.read(request)
        if probe:
            evidence += _probe_objects(result.snapshot(), target_namespace, name or "", client_pod,
                                       Invocation(probe=True, probe_timeout=probe_timeout, max_probes=max_probes,
                                                  dns_server=dns_server, progress=shown))
        shown.show(f"keeping what the checks read of {len(result.objects):,} objects")
        objects: list[dict[str, Any]] = minimal([result.info_object(), *result.objects, *evidence])
    notes: list[str] = []
    if name and not any(obj.get("kind") == "Service" and (obj.get("metadata") or {}).get("name") == name
                        and (obj.get("metadata") or {}).get("namespace") == target_namespace
                        for obj in result.objects):
        notes.append(f"svcdoctor: warning: no Service {target_namespace}/{name} in the cluster; the recording "
                     f"holds what a check of it reads anyway ({len(result.objects)} objects: the namespace's "
                     f"Services, policies, workloads, and kube-system's DNS and kube-proxy)")
    if redact:
        from svcdoctor.redact import redact_for_sharing

        objects, notes = redact_for_sharing(objects, namespace=target_namespace, service=name or "",
                                            map_file=redact_map)
    elif redact_map:
        raise InputError("--redact-map needs --redact")
    for note in notes:
        sys.stderr.write(note + "\n")
    if _write_recording(objects, output, output_format):
        sys.stderr.write(f"svcdoctor: recorded {len(result.objects)} objects from {result.context or 'the cluster'}"
                         f" into {output}" + (f" ({len(result.unavailable)} reads forbidden)"
                                              if result.unavailable else "") + "\n")
    return EXIT_OK


def _write_recording(objects: list[dict[str, Any]], output: str, output_format: str) -> bool:
    """Write a snapshot ``List`` to ``output`` ('-': stdout), atomically and privately; True for a file."""
    from svcdoctor.atomic import write_text

    if output_format not in ("auto", "yaml", "json"):
        raise InputError(f"--format: {output_format!r} is not one of auto, yaml, json")
    document = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": objects}
    as_json = output_format == "json" or (output_format == "auto" and (
        output.lower().endswith(".json") or len(objects) > YAML_OBJECT_LIMIT))
    text = json.dumps(document, indent=1, sort_keys=False) + "\n" if as_json else _yaml(document)
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return False
    write_text(output, text)
    return True


def redact(
    source: Annotated[str, typer.Argument(help="A recorded snapshot: a file, a directory or '-'.")],
    output: Annotated[str, typer.Option("--output", "-o", help="The file to write ('-': stdout).")] = "-",
    output_format: Annotated[
        str, typer.Option("--format", help="auto | yaml | json (auto: json for .json files and large snapshots).")
    ] = "auto",
    namespace: Annotated[str | None, namespace_option("The namespace of the Service to diagnose.")] = None,
    service: Annotated[
        str | None, typer.Option("--service", help="The Service to diagnose: its pseudonym is printed.")
    ] = None,
    redact_map: Annotated[
        str | None, typer.Option("--redact-map", help="Write the original → pseudonym map to this local file "
                                                      "(it undoes the redaction; do not share it).")
    ] = None,
) -> int:
    """Redact a recording offline for a public bug report: pseudonyms for names and addresses, the rest dropped."""
    from svcdoctor.redact import redact_for_sharing
    from svcdoctor.sources.files import load_objects

    objects = [dict(obj) for obj in load_objects(source)]
    _refuse_unknown_target(objects, namespace or "", service or "")
    redacted, notes = redact_for_sharing(objects, namespace=namespace or "", service=service or "",
                                         map_file=redact_map)
    for note in notes:
        sys.stderr.write(note + "\n")
    if _write_recording(redacted, output, output_format):
        sys.stderr.write(f"svcdoctor: redacted {len(redacted)} objects into {output}\n")
    return EXIT_OK


def _refuse_unknown_target(objects: list[dict[str, Any]], namespace: str, service: str) -> None:
    """``--service``/``-n`` must name what the recording holds: a pseudonym for a name it lacks would be
    one nobody can use."""
    from svcdoctor import k8s
    from svcdoctor.errors import InputError
    from svcdoctor.similarity import closest

    if service:
        services = [obj for obj in objects if obj.get("kind") == "Service"]
        if not any(k8s.name(obj) == service and (not namespace or k8s.namespace(obj) == namespace)
                   for obj in services):
            names = sorted({k8s.name(obj) for obj in services if not namespace or k8s.namespace(obj) == namespace})
            near = closest(service, names)
            where = f"namespace {namespace} of the recording" if namespace else "the recording"
            raise InputError(f"--service {service}: no such Service in {where}"
                             + (f" (did you mean {', '.join(near)}?)" if near else ""))
    elif namespace and not any(k8s.namespace(obj) == namespace or (obj.get("kind") == "Namespace"
                                                                     and k8s.name(obj) == namespace)
                               for obj in objects):
        raise InputError(f"-n {namespace}: the recording holds nothing in that namespace")


def _node_dump_objects(paths: list[str]) -> list[dict[str, Any]]:
    """The NodeDump objects of ``--node-dump`` files, validated as ``check --node-dump`` reads them."""
    from svcdoctor.dataplane.collect import read_node_dump_files
    from svcdoctor.sources.files import load_objects

    if not paths:
        return []
    read_node_dump_files(paths)
    return [dict(obj) for path in paths for obj in load_objects(path) if obj.get("kind") == "NodeDump"]


def _probe_objects(snapshot: Any, namespace: str, name: str, client_pod: str, invocation: Any) -> list[dict[str, Any]]:
    """Send the probes and DNS questions of ``check --probe`` and return them as snapshot objects."""
    from svcdoctor import k8s
    from svcdoctor.findings import Client
    from svcdoctor.probe.evidence import evidence_objects
    from svcdoctor.probe.gather import gather

    client = None
    if client_pod:
        pod_namespace, _, pod_name = client_pod.partition("/")
        pod = snapshot.pod(pod_namespace, pod_name)
        client = Client("pod", pod_namespace, pod_name, k8s.pod_ip(pod) if pod else "")
    probed = gather(snapshot, namespace, name, client, invocation)
    return evidence_objects(probed.dns_answers, probed.probe_results)


def _yaml(document: dict[str, Any]) -> str:
    import yaml

    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return str(yaml.dump(document, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True))
