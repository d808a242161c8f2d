"""Command line entry point: `webhook-cert run | solve | check | renew | inspect`, and `--version`.

Only argument parsing lives here; each subcommand's work is in its own module, imported
lazily so that `webhook-cert solve` (the solver Pod) does not load the operator's stack.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from webhook_cert_operator import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webhook-cert",
        description="ACME certificates for webhook endpoints, and checks of the chain they serve.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    import webhook_cert_operator.check_command as check_command
    import webhook_cert_operator.inspect_command as inspect_command
    import webhook_cert_operator.renew_command as renew_command
    import webhook_cert_operator.run_command as run_command
    import webhook_cert_operator.solver.server as server

    run_command.add_arguments(commands.add_parser("run", help="run the operator"))
    server.add_arguments(
        commands.add_parser("solve", help="serve HTTP-01 challenge answers (the solver Pod)")
    )
    check_command.add_arguments(
        commands.add_parser("check", help="check the certificate chain an HTTPS endpoint serves")
    )
    renew_command.add_arguments(
        commands.add_parser("renew", help="ask the operator to renew an endpoint's certificate")
    )
    inspect_command.add_arguments(
        commands.add_parser("inspect", help="judge a stored certificate chain offline")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    result: int = handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
