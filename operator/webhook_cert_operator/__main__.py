"""Entry point: the command line, `webhook-cert run | solve | check | renew | inspect |
status`, and `--version`; `kubectl-webhookcert` is the same program as a kubectl plugin.

Only argument parsing lives here; each subcommand's work is in its own module, and only the
chosen command's module is imported: `webhook-cert solve` (the solver Pod) runs from an
image that has neither kopf nor the Kubernetes client nor cryptography
(the Dockerfile's `solver` stage), so it must not load the operator's stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Final

from webhook_cert_operator import __version__

# name: (module with add_arguments(parser), one-line help). Order is the order of --help.
COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "run": ("webhook_cert_operator.glue.run", "run the operator"),
    "solve": (
        "webhook_cert_operator.solver.server",
        "serve HTTP-01 challenge answers (the solver Pod)",
    ),
    "check": (
        "webhook_cert_operator.cli.check",
        "check the certificate chain an HTTPS endpoint serves",
    ),
    "status": (
        "webhook_cert_operator.cli.status",
        "show what the operator is doing for an endpoint",
    ),
    "renew": (
        "webhook_cert_operator.cli.renew",
        "ask the operator to renew an endpoint's certificate",
    ),
    "inspect": (
        "webhook_cert_operator.cli.inspect",
        "judge a stored certificate chain offline",
    ),
}


def chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line: the first argument that is no option
    (the top level has only --help and --version, neither takes a value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(
    argv: Sequence[str] | None = None, prog: str = "webhook-cert"
) -> argparse.ArgumentParser:
    """The parser; with `argv`, only the command it names gets its arguments (and its
    module imported), without it every command does."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="ACME certificates for webhook endpoints, and checks of the chain they serve.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = None if argv is None else chosen_command(argv)
    for name, (module, help_text) in COMMANDS.items():
        subparser = commands.add_parser(name, help=help_text)
        if argv is None or name == wanted:
            importlib.import_module(module).add_arguments(subparser)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "webhook-cert") -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(arguments, prog).parse_args(arguments)
    handler = args.handler
    result: int = handler(args)
    return result


def kubectl_plugin() -> int:
    """`kubectl webhookcert ...`: kubectl runs `kubectl-webhookcert` from PATH (a kubectl
    plugin), passing the rest of the command line unchanged."""
    return main(prog="kubectl webhookcert")


if __name__ == "__main__":
    sys.exit(main())
