"""Commands for live clusters: ``record`` (cluster → snapshot file) and ``snapshot serve``.

Registered on the main typer app by :func:`register` (one line in ``cli.py``).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from svcdoctor.errors import EXIT_OK, InputError

# Declared here rather than imported from svcdoctor.cli, which imports this module to register it.
NamespaceOption = Annotated[str | None, typer.Option("--namespace", "-n", help="The namespace to record.")]
KubeconfigOption = Annotated[str | None, typer.Option("--kubeconfig", help="Path to the kubeconfig file.")]
ContextOption = Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")]
TimeoutOption = Annotated[
    str, typer.Option("--request-timeout", help="Time limit for each API request, e.g. 10s, 500ms, 1m.")
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Print each API request and its time to stderr.")]
NodeDumpOption = Annotated[
    list[str] | None, typer.Option("--node-dump", help="A NodeDump file to add to the recording; repeatable.")
]
ProbeOption = Annotated[
    bool, typer.Option("--probe", help="Also send the probes and DNS questions of check --probe and record them.")
]
ProbeTimeoutOption = Annotated[float, typer.Option("--probe-timeout", help="Seconds to wait for each probe.")]
MaxProbesOption = Annotated[int, typer.Option("--max-probes", help="At most this many probes.")]
DnsServerOption = Annotated[
    str | None, typer.Option("--dns-server", help="Ask this resolver instead of the kube-dns Service.")
]

#: Above this many objects ``record`` writes JSON: PyYAML's C loader is ~50× slower than json.loads.
YAML_OBJECT_LIMIT = 2000

snapshot_app = typer.Typer(help="Work with recorded snapshot files.", no_args_is_help=True,
                           context_settings={"help_option_names": ["-h", "--help"]})


def record(
    name: Annotated[str | None, typer.Argument(help="Record only what this Service's check reads.")] = None,
    namespace: NamespaceOption = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="Every namespace.")] = False,
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
        str | None, typer.Option("--from", help="Also record this client Pod, NAMESPACE/POD (or POD in -n).")
    ] = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    request_timeout: TimeoutOption = "10s",
    verbose: VerboseOption = False,
    node_dump: NodeDumpOption = None,
    probe: ProbeOption = False,
    probe_timeout: ProbeTimeoutOption = 2.0,
    max_probes: MaxProbesOption = 64,
    dns_server: DnsServerOption = None,
) -> int:
    """Record what svcdoctor reads from the cluster into a snapshot file (never Secrets)."""
    from svcdoctor.app import Invocation
    from svcdoctor.cli import _split_pod
    from svcdoctor.minimal import minimal
    from svcdoctor.sources.interface import Request
    from svcdoctor.sources.live import LiveSource

    if output_format not in ("auto", "yaml", "json"):
        raise InputError(f"--format: {output_format!r} is not one of auto, yaml, json")
    if all_namespaces and (name or namespace):
        raise InputError("-A records every namespace: give it without -n and without a Service name")
    if probe and not name:
        raise InputError("record --probe needs the Service's name: probes are sent for one Service")
    source = LiveSource(kubeconfig=kubeconfig, context=context, request_timeout=request_timeout, verbose=verbose)
    target_namespace = "" if all_namespaces else namespace or source.default_namespace()
    client_pod = ""
    if from_pod:
        client_pod = "/".join(_split_pod(from_pod, target_namespace or "default"))
    request = Request(namespace=target_namespace, service=name or "", all_namespaces=all_namespaces,
                      client_pod=client_pod)
    evidence = _node_dump_objects(node_dump or [])
    result = source.read(request)
    if probe:
        evidence += _probe_objects(result.snapshot(), target_namespace, name or "", client_pod,
                                   Invocation(probe=True, probe_timeout=probe_timeout, max_probes=max_probes,
                                              dns_server=dns_server))
    objects: list[dict[str, Any]] = minimal([result.info_object(), *result.objects, *evidence])
    notes: list[str] = []
    if redact:
        from svcdoctor.redact import redact_for_sharing

        objects, notes = redact_for_sharing(objects, namespace=target_namespace, service=name or "",
                                            map_file=redact_map)
    elif redact_map:
        raise InputError("--redact-map needs --redact")
    document = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": objects}
    as_json = output_format == "json" or (output_format == "auto" and (
        output.lower().endswith(".json") or len(objects) > YAML_OBJECT_LIMIT))
    text = json.dumps(document, indent=1, sort_keys=False) + "\n" if as_json else _yaml(document)
    for note in notes:
        sys.stderr.write(note + "\n")
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        from svcdoctor.atomic import write_text

        write_text(output, text)
        sys.stderr.write(f"svcdoctor: recorded {len(result.objects)} objects from {result.context or 'the cluster'}"
                         f" into {output}" + (f" ({len(result.unavailable)} reads forbidden)"
                                              if result.unavailable else "") + "\n")
    return EXIT_OK


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


@snapshot_app.command("serve")
def serve(
    file: Annotated[str, typer.Argument(help="A recorded snapshot (file, directory or '-').")],
    port: Annotated[int, typer.Option("--port", "-p", help="Port on 127.0.0.1 (0: a free one).")] = 8001,
    write_kubeconfig: Annotated[
        str | None, typer.Option("--write-kubeconfig", help="Write a kubeconfig for the server to this file.")
    ] = None,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="The namespace of the written kubeconfig's context.")
    ] = "default",
    latency: Annotated[float, typer.Option("--latency", help="Seconds to wait before each answer.")] = 0.0,
    forbid: Annotated[
        list[str] | None, typer.Option("--forbid", help="Answer 403 for a resource (plural, or NS/plural).")
    ] = None,
) -> int:
    """Serve a snapshot read-only over the Kubernetes API: point kubectl or k9s at a recording."""
    from svcdoctor.sources.files import load_objects
    from svcdoctor.testing.apiserver import ServerOptions, SnapshotAPIServer

    objects = load_objects(file)
    options = ServerOptions(forbid={item for value in forbid or [] for item in value.split(",") if item},
                            latency=latency)
    try:
        server = SnapshotAPIServer(objects, port=port, options=options)
    except OSError as error:
        raise InputError(f"--port {port}: {error.strerror or error}") from None
    message = f"svcdoctor: serving {file} read-only at {server.url}"
    if write_kubeconfig:
        try:
            server.write_kubeconfig(write_kubeconfig, namespace=namespace)
        except InputError:
            server.stop()
            raise
        message += f"\n  kubectl --kubeconfig {write_kubeconfig} get pods -A"
    else:
        message += f"\n  kubectl --server {server.url} get pods -A"
    sys.stderr.write(message + "\n  (Ctrl-C stops it)\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


def register(app: typer.Typer) -> None:
    """Add ``record`` and ``snapshot serve`` to the main app."""
    app.command()(record)
    app.add_typer(snapshot_app, name="snapshot")
