"""``svcdoctor mcp``: a Model Context Protocol server over stdio, with the official ``mcp`` SDK.

Tools (each returns the same JSON document the CLI prints with ``-o json``):

* ``check`` — one Service (name, namespace, optional client Pod or address, snapshot or live);
* ``scan`` — every Service of a namespace (or all), worst first;
* ``reach`` — the NetworkPolicy reachability matrix of namespaces (``svcdoctor/reach/v1``);
* ``explain`` — what a check means and how to fix it.

An argument a tool does not take is refused (a tool error naming the ones it takes), and error
texts name the tools' parameters, not the CLI's flags (``client_pod``, not ``--from``).

Read-only with the CLI's own bounds and RBAC (the same pipeline, :mod:`svcdoctor.app`). An agent
cannot make it send packets: no tool takes ``probe``, and every Invocation is built with probes
off. A ``snapshot`` argument is a path inside one of the directories given at start
(``--snapshots-dir``), after symlinks are resolved; without such a directory, snapshots are refused
and only the live cluster (the kubeconfig and context given at start) is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from svcdoctor.errors import InputError

INSTRUCTIONS = ("svcdoctor diagnoses why a Kubernetes Service cannot be reached: call check with the "
                "Service's name and namespace; findings[0] is the root cause, and each finding carries "
                "the kubectl commands that show it. Read-only; it never sends probes.")

#: The CLI's flags that error texts name (the pipeline is the CLI's), and the tool parameter each is.
PARAMETERS = {"--from-ip": "client_ip", "--from": "client_pod", "--namespace": "namespace", "-n": "namespace",
              "--all-namespaces": "all_namespaces", "-A": "all_namespaces"}
_FLAG = re.compile(r"(?<![\w-])(" + "|".join(re.escape(flag) for flag in PARAMETERS) + r")(?![\w-])")


def in_tool_terms(message: str) -> str:
    """An error text of the CLI's pipeline, its flags named as the tools' parameters (``--from``: ``client_pod``)."""
    return _FLAG.sub(lambda match: PARAMETERS[match.group(1)], message)


@dataclass(frozen=True)
class McpSettings:
    """What ``svcdoctor mcp`` was started with; tool calls cannot change it."""

    snapshots_dirs: tuple[str, ...] = ()
    kubeconfig: str | None = None
    context: str | None = None
    request_timeout: str = "10s"
    #: False: tools may read only snapshots (no live cluster).
    live: bool = True


def confined(path: str, directories: Sequence[str]) -> str:
    """``path`` resolved (relative to the first directory), if it lies inside one of ``directories``."""
    if not directories:
        raise InputError("snapshots are not enabled: start svcdoctor mcp with --snapshots-dir DIR")
    roots = [os.path.realpath(directory) for directory in directories]
    resolved = os.path.realpath(os.path.join(roots[0], path))
    for root in roots:
        if resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep):
            if not os.path.exists(resolved):
                raise InputError(f"snapshot {path!r}: no such file in the snapshots directories")
            return resolved
    raise InputError(f"snapshot {path!r} is outside the snapshots directories given at start")


class Tools:
    """The tools' bodies, plain functions over :class:`McpSettings` (tested without a session too)."""

    def __init__(self, settings: McpSettings) -> None:
        self.settings = settings

    def invocation(self, snapshot: str | None, namespace: str | None, **flags: Any) -> Any:
        from svcdoctor.app import Invocation

        if snapshot is None and not self.settings.live:
            raise InputError("this server reads snapshots only: give snapshot (a file in the snapshots directories)")
        path = confined(snapshot, self.settings.snapshots_dirs) if snapshot is not None else None
        return Invocation(snapshot=path, kubeconfig=self.settings.kubeconfig, context=self.settings.context,
                          request_timeout=self.settings.request_timeout, namespace=namespace, probe=False, **flags)

    def check(self, name: str, namespace: str = "default", client_pod: str | None = None,
              client_ip: str | None = None, snapshot: str | None = None) -> dict[str, Any]:
        from svcdoctor.app import check_service

        report = check_service(self.invocation(snapshot, namespace, from_pod=client_pod, from_ip=client_ip), name)
        return report.to_dict()

    def scan(self, namespace: str | None = None, all_namespaces: bool = False,
             snapshot: str | None = None) -> dict[str, Any]:
        import json

        from svcdoctor.app import scan_services
        from svcdoctor.render import render_scan
        from svcdoctor.render.interface import RenderOptions

        if namespace is None and not all_namespaces:
            raise InputError("give namespace, or all_namespaces: true")
        reports = scan_services(self.invocation(snapshot, namespace), all_namespaces=all_namespaces)
        document: dict[str, Any] = json.loads(render_scan(reports, "json", RenderOptions()))
        return document

    def reach(self, namespaces: list[str], snapshot: str | None = None) -> dict[str, Any]:
        from svcdoctor.app import load, open_source
        from svcdoctor.netpol import matrix as reach_matrix
        from svcdoctor.netpol.evaluator import Evaluator
        from svcdoctor.render.reach import to_dict
        from svcdoctor.sources.interface import Request

        if not namespaces:
            raise InputError("give at least one namespace")
        invocation = self.invocation(snapshot, namespaces[0])
        source = open_source(invocation)
        wide = len(namespaces) > 1
        loaded, _ = load(invocation, Request(namespace="" if wide else namespaces[0], all_namespaces=wide), source)
        evaluator = Evaluator(loaded)
        members = reach_matrix.select_members(loaded, evaluator, namespaces, [], False)
        if not members:
            raise InputError(f"no Pods in namespace(s) {', '.join(namespaces)}")
        ports = reach_matrix.default_ports(members)
        if not ports:
            raise InputError("the Pods declare no container ports")
        result = reach_matrix.build_matrix(evaluator, members, members, ports)
        document: dict[str, Any] = to_dict(result, namespaces)
        return document

    @staticmethod
    def explain(check_id: str) -> str:
        from svcdoctor import docs

        return docs.explain(check_id)


def build_server(settings: McpSettings) -> Any:
    """The FastMCP server with svcdoctor's tools (imports the SDK: install ``svcdoctor[mcp]``)."""
    from mcp.server.fastmcp import FastMCP
    from mcp.server.fastmcp.exceptions import ToolError
    from mcp.types import ToolAnnotations

    from svcdoctor.errors import SvcdoctorError

    class StrictServer(FastMCP):
        """Refuses an argument a tool does not take: the SDK drops it silently, so a misspelt
        ``client_pod`` would answer for clients in general."""

        async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
            tool = self._tool_manager.get_tool(name)
            if tool is not None:
                known = list(tool.parameters.get("properties", {}))
                unknown = sorted(set(arguments) - set(known))
                if unknown:
                    raise ToolError(f"{name}: unknown argument{'s' if len(unknown) > 1 else ''} "
                                    f"{', '.join(unknown)}; {name} takes {', '.join(known)}")
            return await super().call_tool(name, arguments)

    tools = Tools(settings)
    server = StrictServer("svcdoctor", instructions=INSTRUCTIONS, log_level="WARNING")
    read_only = ToolAnnotations(readOnlyHint=True, destructiveHint=False, openWorldHint=False)

    def guarded(function: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except SvcdoctorError as error:  # bad input, unreadable cluster: the agent reads one line
                raise ToolError(in_tool_terms(str(error))) from None
        return call

    @server.tool(annotations=read_only)
    def check(name: str, namespace: str = "default", client_pod: str | None = None, client_ip: str | None = None,
              snapshot: str | None = None) -> dict[str, Any]:
        """Diagnose why a Kubernetes Service cannot be reached: the svcdoctor/report JSON (findings[0] is the
        root cause). client_pod: NAMESPACE/POD of the client; client_ip: a client outside the cluster;
        snapshot: a recorded snapshot file in the server's snapshots directory (else the live cluster)."""
        result: dict[str, Any] = guarded(tools.check)(name, namespace, client_pod, client_ip, snapshot)
        return result

    @server.tool(annotations=read_only)
    def scan(namespace: str | None = None, all_namespaces: bool = False, snapshot: str | None = None) -> dict[str, Any]:
        """Diagnose every Service of a namespace (or of all), worst first: the svcdoctor scan JSON."""
        result: dict[str, Any] = guarded(tools.scan)(namespace, all_namespaces, snapshot)
        return result

    @server.tool(annotations=read_only)
    def reach(namespaces: list[str], snapshot: str | None = None) -> dict[str, Any]:
        """Which Pods may connect to which, per declared port, under the NetworkPolicies (svcdoctor/reach/v1)."""
        result: dict[str, Any] = guarded(tools.reach)(namespaces, snapshot)
        return result

    @server.tool(annotations=read_only)
    def explain(check_id: str) -> str:
        """What a svcdoctor check (e.g. SD301) means, why it matters, and how to fix it."""
        text: str = guarded(tools.explain)(check_id)
        return text

    return server
