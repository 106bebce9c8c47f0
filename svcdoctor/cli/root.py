"""The ``svcdoctor`` app: the root options, every command in help order, and the entry points.

Only argument handling lives in :mod:`svcdoctor.cli`; the core (sources → Snapshot → engine →
Report → renderers) knows nothing of it. Heavy modules (the ``kubernetes`` client, scapy) are
imported inside the commands that need them, so ``svcdoctor --help`` stays fast.

Every error ends as one line on stderr and a documented exit code: 0 ok, 1 findings at or above
``--fail-on``, 2 bad usage or bad input, 3 the cluster could not be read, 4 the verdict is unknown
(``--accept-unknown`` accepts it), 70 an internal error (a
bug in svcdoctor; ``--debug`` prints its traceback).
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from svcdoctor import __version__
from svcdoctor.cli.catalog import explain, list_checks
from svcdoctor.cli.check import check, demo, scan
from svcdoctor.cli.collect import collect_app
from svcdoctor.cli.common import Session, error
from svcdoctor.cli.diff import diff
from svcdoctor.cli.dns import dns_records
from svcdoctor.cli.help import HelpCommand, HelpGroup
from svcdoctor.cli.mcp import mcp
from svcdoctor.cli.reach import reach
from svcdoctor.cli.record import record, redact
from svcdoctor.cli.snapshot import snapshot_app
from svcdoctor.cli.watch import watch
from svcdoctor.errors import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, SvcdoctorError, internal_error_message

if TYPE_CHECKING:
    from svcdoctor.checks.interface import Check

#: 128 + SIGPIPE, as a shell reports a writer whose reader went away (e.g. `| head`).
EXIT_BROKEN_PIPE = 141

app = typer.Typer(
    name="svcdoctor",
    cls=HelpGroup,
    help="Why can't I reach my Service? A ranked diagnosis: root cause first, the evidence, the next command.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"svcdoctor {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    click_context: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="SVCDOCTOR_DEBUG", help="Print the traceback of an internal error.")
    ] = False,
) -> None:
    """Why can't I reach my Service?"""
    click_context.ensure_object(Session).debug = debug


# The order here is the order of `svcdoctor --help` (command groups come last there).
app.command()(check)
app.command()(scan)
app.command()(explain)
app.command("checks")(list_checks)
app.command()(diff)
app.command()(demo)
app.command("reach")(reach)
app.command()(record)
app.command()(redact)
app.command("dns")(dns_records)
app.command()(watch)
app.command()(mcp)
app.add_typer(collect_app, name="collect", cls=HelpGroup)
app.add_typer(snapshot_app, name="snapshot", cls=HelpGroup)
for _typer_app in (app, collect_app, snapshot_app):  # every command's --help reads the same (cli/help.py)
    for _command in _typer_app.registered_commands:
        if _command.cls in (None, TyperCommand):
            _command.cls = HelpCommand


def main(argv: list[str] | None = None, prog_name: str = "svcdoctor") -> None:
    """Run the CLI and exit with a documented code; a traceback only with ``--debug``."""
    sys.exit(run(argv, prog_name))


def kubectl_main() -> None:
    """The ``kubectl-svcdoctor`` entry point: ``kubectl svcdoctor …``."""
    main(prog_name="kubectl svcdoctor")


#: kubectl's global flags, which kubectl users type before the subcommand (``kubectl svcdoctor -n
#: shop check backend``): those taking a value, and those that are switches.
GLOBAL_VALUE_FLAGS = ("-n", "--namespace", "--context", "--kubeconfig", "--request-timeout")
GLOBAL_SWITCHES = ("-A", "--all-namespaces", "-v", "--verbose")


def hoist_global_flags(argv: Sequence[str]) -> list[str]:
    """Move kubectl-style global flags given before the subcommand to after it, where its options are."""
    root: list[str] = []
    hoisted: list[str] = []
    index = 0
    while index < len(argv) and argv[index].startswith("-") and argv[index] != "--":
        token = argv[index]
        name = token.partition("=")[0]
        if name in GLOBAL_VALUE_FLAGS and "=" not in token and index + 1 < len(argv):
            hoisted += [token, argv[index + 1]]
            index += 1
        elif name in GLOBAL_VALUE_FLAGS or token in GLOBAL_SWITCHES or (token[:2] == "-n" and len(token) > 2):
            hoisted.append(token)
        else:
            root.append(token)  # a root option (--debug, --version, --help)
        index += 1
    rest = list(argv[index:])
    if not hoisted or not rest:
        return list(argv)
    end = rest.index("--") if "--" in rest else len(rest)
    return root + rest[:end] + hoisted + rest[end:]


def run(argv: list[str] | None = None, prog_name: str = "svcdoctor", *, checks: Sequence[Check] | None = None) -> int:
    """Run the CLI and return its exit code (for tests and ``main``).

    ``checks`` replaces the registry's checks (tests hand in one that crashes, for instance).
    """
    session = Session(checks=checks)
    click_exceptions: Any
    try:  # typer >= 0.25 carries its own copy of click
        click_exceptions = importlib.import_module("typer._click.exceptions")
    except ImportError:  # pragma: no cover
        click_exceptions = importlib.import_module("click.exceptions")

    try:
        args = hoist_global_flags(sys.argv[1:] if argv is None else argv)
        result = app(args=args, prog_name=prog_name, standalone_mode=False, obj=session)
    except SvcdoctorError as problem:
        error(str(problem))
        return problem.exit_code
    except click_exceptions.NoArgsIsHelpError:
        return EXIT_USAGE  # the help has been printed
    except click_exceptions.UsageError as problem:
        error(problem.format_message().replace("\n", " "))
        return EXIT_USAGE
    except typer.Abort:
        error("aborted")
        return 130
    except click_exceptions.ClickException as problem:
        error(problem.format_message())
        return EXIT_USAGE
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_BROKEN_PIPE
    except SystemExit as problem:
        # rich turns a closed stdout into SystemExit(1); 1 means "findings" to a CI gate, so say
        # what the shell would for a reader that went away instead.
        return EXIT_BROKEN_PIPE if problem.code == 1 else int(problem.code or 0)
    except RecursionError:
        error("input nested too deeply")
        return EXIT_USAGE
    except Exception as problem:
        if session.debug:
            traceback.print_exc(file=sys.stderr)
        error(internal_error_message(f"{type(problem).__name__}: {problem}"))
        return EXIT_INTERNAL
    return result if isinstance(result, int) else EXIT_OK
