"""``svcdoctor collect node``: print this node's data plane as a NodeDump (read-only)."""

from __future__ import annotations

from typing import Annotated

import typer

collect_app = typer.Typer(help="Record evidence that is not in the API (a node's data plane).", no_args_is_help=True)


@collect_app.command("node")
def collect_node_command(
    node_name: Annotated[str | None, typer.Option("--node-name", help="The Node's name (default: $NODE_NAME, "
                                                  "else the host name).")] = None,
    chroot: Annotated[str | None, typer.Option("--chroot", help="Run the tools inside this root, e.g. /host in "
                                               "a `kubectl debug node/…` Pod.")] = None,
    iptables_save: Annotated[str | None, typer.Option("--iptables-save", help="Saved `iptables-save` output "
                                                      "to use instead of running it.")] = None,
    ip6tables_save: Annotated[str | None, typer.Option("--ip6tables-save", help="Saved `ip6tables-save` "
                                                       "output.")] = None,
    nft_ruleset: Annotated[str | None, typer.Option("--nft-ruleset", help="Saved `nft list ruleset` "
                                                    "output.")] = None,
    ipvsadm: Annotated[str | None, typer.Option("--ipvsadm", help="Saved `ipvsadm -Ln` output.")] = None,
    cilium_service_list: Annotated[str | None, typer.Option(
        "--cilium-service-list", help="Saved `cilium-dbg service list` output of the node's Cilium agent "
        "(`kubectl exec -n kube-system CILIUM_POD -c cilium-agent -- cilium-dbg service list`).")] = None,
    output: Annotated[str | None, typer.Option("--output-file", "-o", help="Write the YAML here instead of "
                                               "stdout.")] = None,
) -> int:
    """Print a NodeDump (iptables-save / nft list ruleset / ipvsadm -Ln, as present) for `check --node-dump`.

    Runs on a node as root, or assembles saved tool output given with --iptables-save etc.
    """
    from svcdoctor.dataplane.collect import collect_node, to_yaml

    files = {field: path for field, path in (("iptablesSave", iptables_save), ("ip6tablesSave", ip6tables_save),
                                             ("nftRuleset", nft_ruleset), ("ipvsadm", ipvsadm),
                                             ("ciliumServiceList", cilium_service_list)) if path}
    text = to_yaml(collect_node(node_name=node_name or "", chroot=chroot or "", files=files or None))
    if output:
        from svcdoctor.atomic import write_text

        write_text(output, text)
    else:
        typer.echo(text, nl=False)
    return 0
