"""``svcdoctor mcp``: serve svcdoctor's diagnoses to LLM agents over the Model Context Protocol (stdio)."""

from __future__ import annotations

from typing import Annotated

import typer

from svcdoctor.cli.options import ContextOption, KubeconfigOption, TimeoutOption
from svcdoctor.errors import EXIT_OK, InputError

INSTALL_HINT = "svcdoctor mcp needs the MCP SDK: pip install 'svcdoctor[mcp]'"


def mcp(
    snapshots_dir: Annotated[list[str] | None, typer.Option(
        "--snapshots-dir", help="A directory whose snapshot files tools may read (repeatable); no other file is "
                                "readable.")] = None,
    no_live: Annotated[bool, typer.Option("--no-live", help="Read snapshots only, never the cluster.")] = False,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    request_timeout: TimeoutOption = "10s",
) -> int:
    """A Model Context Protocol server over stdio: check, scan, reach and explain as read-only tools.

    Tools return the JSON reports; no tool can send probes. See docs/mcp.md for a client configuration.
    """
    import os

    try:
        import mcp as _sdk  # noqa: F401
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    from svcdoctor.serve.mcp import McpSettings, build_server

    for directory in snapshots_dir or []:
        if not os.path.isdir(directory):
            raise InputError(f"--snapshots-dir {directory}: not a directory")
    if no_live and not snapshots_dir:
        raise InputError("--no-live needs --snapshots-dir: there would be nothing to read")
    settings = McpSettings(snapshots_dirs=tuple(snapshots_dir or ()), kubeconfig=kubeconfig, context=context,
                           request_timeout=request_timeout, live=not no_live)
    build_server(settings).run("stdio")
    return EXIT_OK
