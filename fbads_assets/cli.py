"""The ``fbads`` command: the sandbox, token tools and the demo.

Each group lives next to the code it drives and is imported only when used, so
``fbads token inspect`` does not pay for Dagster's import time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from fbads_assets.api.token_cli import add_token_commands
    from fbads_assets.demo import add_demo_command
    from fbads_assets.sandbox.cli import add_sandbox_commands

    parser = argparse.ArgumentParser(
        prog="fbads", description="Meta Marketing API → Dagster → DuckDB/BigQuery."
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    add_sandbox_commands(groups)
    add_token_commands(groups)
    add_demo_command(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Each sub-command sets ``handler`` with ``set_defaults``; it returns the exit code.
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
