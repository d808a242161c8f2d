"""`python -m conformance [--details] [--markdown FILE] [NAME-SUBSTRING ...]`: run the
corpus and print the table (scenario, our verdict, OpenSSL, Go, Java). Exit 1 when a
disagreement is not listed as deliberate, 2 when a client's toolchain is missing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance import clients, run
from conformance.scenarios import SCENARIOS

#: In an existing Markdown file, the table replaces everything after this line.
MARKER = "<!-- results: written by python -m conformance --markdown -->"


def write_markdown(path: Path, table: str) -> None:
    """Write `table` to `path`, after MARKER when the file has it (docs/conformance.md)."""
    text = path.read_text() if path.exists() else ""
    head = text.split(MARKER)[0] + MARKER + "\n\n" if MARKER in text else ""
    path.write_text(head + table + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__)
    parser.add_argument("names", nargs="*", help="run only scenarios whose name has one of these")
    parser.add_argument("--details", action="store_true", help="print each client's words")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.names or any(n in s.name for n in args.names)]
    try:
        tools = run.prepare()
    except clients.ClientMissing as error:
        print(f"conformance: {error}", file=sys.stderr)
        return 2

    def progress(row: run.Row) -> None:
        if args.details:
            print(f"# {row.scenario.name}: ours {row.ours.codes} {row.ours.detail}")
            for name, verdict in row.clients.items():
                print(f"#   {name}: {verdict.detail}")

    rows = run.run_corpus(chosen, tools=tools, progress=progress)
    print(run.format_table(rows))
    if args.markdown:
        write_markdown(Path(args.markdown), run.format_markdown(rows, tools))
    return 0 if all(r.status != "DISAGREE" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
