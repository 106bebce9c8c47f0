"""``svcdoctor reach``: the NetworkPolicy reachability matrix of a namespace (or of chosen Pods).

Rows are sources, columns destinations, one table per port — the truth tables of the upstream
NetworkPolicy conformance tests — in text or JSON. ``--expect FILE`` compares the matrix with a
reviewed one (a previous ``-o json`` or text output) and exits 1 on any difference, so a policy
change that opens or closes a path fails CI until the expected matrix is updated on purpose.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from svcdoctor.cli.common import terminal_width
from svcdoctor.cli.options import (
    AllNamespacesOption,
    ContextOption,
    KubeconfigOption,
    NoProgressOption,
    check_choice,
    from_ip_option,
    manifests_option,
    namespace_option,
    output_option,
    request_timeout_option,
    snapshot_option,
    verbose_option,
)
from svcdoctor.errors import EXIT_FINDINGS, EXIT_OK, ClusterError, InputError


def reach(
    namespace: Annotated[list[str] | None, namespace_option("A namespace whose Pods to include; repeatable.")] = None,
    all_namespaces: AllNamespacesOption = False,
    pod: Annotated[
        list[str] | None, typer.Option("--pod", help="Only these Pods, NAMESPACE/POD; repeatable.")
    ] = None,
    from_ip: Annotated[
        list[str] | None, from_ip_option("An outside address to add as a source row; repeatable.")
    ] = None,
    port: Annotated[
        list[str] | None,
        typer.Option("--port", "-p", help="A port at the destination Pod, e.g. 80, 53/UDP or http (a container port "
                                          "name); repeatable. Default: every port the Pods declare."),
    ] = None,
    via_service: Annotated[
        bool, typer.Option("--via-service", help="--port names a Service port: reach each Pod through a Service "
                                                 "that selects it, at the targetPort that port leads to.")
    ] = False,
    each_pod: Annotated[
        bool, typer.Option("--each-pod", help="One row and column per Pod instead of per group of alike Pods.")
    ] = False,
    expect: Annotated[
        str | None, typer.Option("--expect", help="A reviewed matrix (reach -o json or text); exit 1 on a difference.")
    ] = None,
    output: Annotated[str, output_option("text | json")] = "text",
    snapshot: Annotated[str | None, snapshot_option("A recorded snapshot: a file, a directory or '-'.")] = None,
    manifests: Annotated[str | None,
                         manifests_option("Plain manifests (a file, a directory, a kustomization, or '-').")] = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    request_timeout: Annotated[str, request_timeout_option("Time limit for each API request.")] = "10s",
    verbose: Annotated[bool, verbose_option("Print each API request to stderr.")] = False,
    no_progress: NoProgressOption = False,
) -> int:
    """NetworkPolicy reachability matrix: who may connect to whom, per port (a CI gate with --expect)."""
    import ipaddress

    from svcdoctor import app as application
    from svcdoctor.cli.progress import progress
    from svcdoctor.client_names import name_problem
    from svcdoctor.netpol import matrix as reach_matrix
    from svcdoctor.netpol.evaluator import Evaluator
    from svcdoctor.netpol.tiers import PolicyStack
    from svcdoctor.render.interface import RenderOptions
    from svcdoctor.render.reach import FORMATS
    from svcdoctor.render.reach import render as render_reach
    from svcdoctor.sources.interface import Request

    check_choice(output, FORMATS, "--output")
    ports = []
    for text in port or []:
        try:
            ports.append(reach_matrix.parse_port(text))
        except ValueError as error:
            raise InputError(f"--port {text!r}: {error}") from None
    for address in from_ip or []:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise InputError(f"--from-ip {address!r} is not an IP address") from None
    for item in pod or []:
        namespace_part, _, name_part = item.partition("/")
        if not namespace_part or not name_part or "/" in name_part:
            raise InputError(f"--pod {item!r}: expected NAMESPACE/POD")
    expected = None
    if expect is not None:
        try:
            expected = reach_matrix.read_expected(Path(expect).read_text())
        except OSError as error:
            raise InputError(f"--expect {expect}: {error.strerror or error}") from None
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"--expect {expect}: not a reach matrix ({error})") from None

    with progress(no_progress) as shown:
        invocation = application.Invocation(snapshot=snapshot, manifests=manifests, kubeconfig=kubeconfig,
                                            context=context, request_timeout=request_timeout, verbose=verbose,
                                            namespace=namespace[0] if namespace else None, progress=shown)
        source = application.open_source(invocation)
        pod_namespaces = list(dict.fromkeys(item.partition("/")[0] for item in pod or []))
        namespaces = list(dict.fromkeys(namespace or [])) or pod_namespaces
        wide = all_namespaces or len(namespaces) > 1
        if not namespaces and not all_namespaces:
            namespaces = [application.resolve_namespace(invocation, source)]
        request = Request(namespace="" if wide else namespaces[0], all_namespaces=wide)
        loaded, _description = application.load(invocation, request, source)
    if all_namespaces:
        namespaces = [n for n in loaded.namespace_names() if loaded.pods_in(n)]
    for resource in ("networkpolicies", "pods", "namespaces"):
        for scope in namespaces or [""]:
            missing = loaded.missing(resource, scope)
            if missing is not None:
                raise ClusterError(f"cannot build the matrix: could not {missing.verb} {resource}"
                                   f"{' in ' + scope if scope and missing.namespace else ''}: {missing.reason} "
                                   f"({missing.can_i()})")

    for item in pod or []:
        pod_namespace, _, pod_name = item.partition("/")
        problem = name_problem(pod_namespace, pod_name) if pod_name else "expected NAMESPACE/POD"
        if problem:
            raise InputError(f"--pod {item!r}: {problem}")
    evaluator = Evaluator(loaded)
    # Admin-tier and Cilium policies decide too, when there are any (reach shows what really passes).
    stack = PolicyStack(loaded, evaluator)
    tiers = not (stack.admin.empty and stack.cilium.empty)
    try:
        members = reach_matrix.select_members(loaded, evaluator, namespaces, pod or [], each_pod,
                                               stack if tiers else None)
    except LookupError as error:
        raise InputError(f"--pod {error.args[0]}: no such Pod in the {source.kind}") from None
    if not members:
        raise InputError(f"no Pods in namespace(s) {', '.join(namespaces) or '(none)'}")
    if via_service and not ports:
        raise InputError("--via-service needs --port (a Service port number or name)")
    if not ports:
        ports = reach_matrix.default_ports(members)
        if not ports:
            raise InputError("the Pods declare no container ports: name the ports with --port")
    sources = members + reach_matrix.address_members(from_ip or [])
    result = reach_matrix.build_matrix(evaluator, sources, members, ports, via_services=via_service,
                                       stack=stack if tiers else None)
    differences = reach_matrix.compare(result, expected) if expected is not None else []
    sys.stdout.write(render_reach(result, namespaces, output, RenderOptions(width=terminal_width())))
    if expected is not None:
        if differences:
            sys.stderr.write(f"svcdoctor reach: {len(differences)} cell(s) differ from {expect}:\n")
            for line in differences:
                sys.stderr.write(f"  {line}\n")
        else:
            sys.stderr.write(f"svcdoctor reach: the matrix matches {expect}\n")
    sys.stdout.flush()
    return EXIT_FINDINGS if differences else EXIT_OK
