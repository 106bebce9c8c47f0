"""``svcdoctor snapshot serve``: a recorded snapshot served read-only over the Kubernetes API."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from svcdoctor.cli.options import namespace_option
from svcdoctor.errors import EXIT_OK, InputError

if TYPE_CHECKING:
    from svcdoctor.serve.apiserver import SnapshotAPIServer

snapshot_app = typer.Typer(help="Work with recorded snapshot files.", no_args_is_help=True,
                           context_settings={"help_option_names": ["-h", "--help"]})


@snapshot_app.command("serve")
def serve(
    file: Annotated[str, typer.Argument(help="A recorded snapshot (file, directory or '-').")],
    port: Annotated[int, typer.Option("--port", "-p", help="Port on 127.0.0.1 (0: a free one).")] = 8001,
    write_kubeconfig: Annotated[
        str | None, typer.Option("--write-kubeconfig", help="Write a kubeconfig for the server to this file.")
    ] = None,
    namespace: Annotated[str, namespace_option("The namespace of the written kubeconfig's context.")] = "default",
    latency: Annotated[float, typer.Option("--latency", help="Seconds to wait before each answer.")] = 0.0,
    forbid: Annotated[
        list[str] | None, typer.Option("--forbid", help="Answer 403 for a resource (plural, or NS/plural).")
    ] = None,
) -> int:
    """Serve a snapshot read-only over the Kubernetes API: point kubectl or k9s at a recording.

    List, get and watch: when FILE changes, watches get the ADDED/MODIFIED/DELETED events and bookmarks
    a real API server would send (so `svcdoctor watch` can follow a recording).
    """
    import secrets

    from svcdoctor.serve.apiserver import ServerOptions, SnapshotAPIServer
    from svcdoctor.sources.files import load_objects

    objects = load_objects(file)
    # A token per run: other local users and web pages (DNS rebinding is refused by Host) cannot read it.
    options = ServerOptions(forbid={item for value in forbid or [] for item in value.split(",") if item},
                            latency=latency, token=secrets.token_urlsafe(32))
    try:
        server = SnapshotAPIServer(objects, port=port, options=options)
    except OSError as error:
        raise InputError(f"--port {port}: {error.strerror or error}") from None
    message = f"svcdoctor: serving {file} read-only at {server.url}"
    if write_kubeconfig:
        kept = _earlier_token(write_kubeconfig, server)
        if kept:  # restarted on the same address: clients that read the kubeconfig (watch, kubectl) carry on
            server.options.token = kept
        try:
            server.write_kubeconfig(write_kubeconfig, namespace=namespace)
        except InputError:
            server.stop()
            raise
        message += f"\n  kubectl --kubeconfig {write_kubeconfig} get pods -A   (the kubeconfig holds this run's token)"
    else:
        message += f"\n  kubectl --server {server.authorized_url()} get pods -A   (the URL holds this run's token)"
    from svcdoctor.serve.watch import FileFollower, hub_of

    hub_of(server)  # watch requests are answered
    follower = None
    if os.path.isfile(file):  # and get what changes when FILE is replaced or rewritten
        follower = FileFollower(file, server).start()
        message += f"\n  following {file}: changes are sent to watches"
    sys.stderr.write(message + "\n  (Ctrl-C stops it)\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if follower is not None:
            follower.stop()
        server.stop()
    return EXIT_OK


def _earlier_token(path: str, server: SnapshotAPIServer) -> str | None:
    """The token of the kubeconfig an earlier run wrote at ``path`` (0600, this user's) for the same address."""
    import yaml

    try:
        status = os.stat(path)
        # Only a file of this user that no one else can read: a planted one would hand its token over.
        if status.st_uid != os.getuid() or status.st_mode & 0o077:
            return None
        with open(path, encoding="utf-8") as stream:
            config = yaml.safe_load(stream)
        token = str(config["users"][0]["user"]["token"])
        written = str(config["clusters"][0]["cluster"]["server"])
    except (OSError, yaml.YAMLError, LookupError, TypeError):
        return None
    return token if token and written == server.authorized_url(token) else None
