"""Command line: ``python -m toolkit <command> ...``.

Each command is a small function that parses nothing itself: argparse builds
the namespace, the function calls the public API and prints or writes.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Command, str]] = {}


def command(name: str, help: str):
    """Register ``func(args) -> exit code`` as command ``name``.

    The function may carry an ``add_arguments(parser)`` attribute, set after
    the definition; it is looked up when the parser is built.
    """
    def wrap(func: Command) -> Command:
        _COMMANDS[name] = (func, help)
        return func
    return wrap


def build_parser() -> argparse.ArgumentParser:
    _load_commands()
    parser = argparse.ArgumentParser(prog="python -m toolkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (func, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        getattr(func, "add_arguments", lambda parser: None)(p)
        p.set_defaults(func=func)
    return parser


def _load_commands() -> None:
    # Importing a command module registers its commands. One line per module.
    from . import _cli_summary  # noqa: F401  summary
    # --- sample-data ---
    from . import _cli_sampledata  # noqa: F401
    from . import _cli_audit  # noqa: F401  audit, report
    # --- recluster / suggest ---
    from . import _cli_recluster  # noqa: F401  recluster, suggest


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
