"""``python -m toolkit audit DIR`` and ``python -m toolkit report DIR``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .cli import command


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="a data directory laid out like sample_data/")
    parser.add_argument("--out", type=Path, default=Path("report.html"),
                        help="where to write the HTML report (default: report.html)")
    parser.add_argument("--title", default="Face-cluster merge audit", help="the report's title")
    parser.add_argument("--suspicious-below", type=float, default=None,
                        help="verdict cut: a merge scoring below this is suspicious (default 0.75)")
    parser.add_argument("--wrong-below", type=float, default=None,
                        help="verdict cut: a merge scoring below this is likely wrong (default 0.6)")


def _run(args: argparse.Namespace, *, print_table: bool) -> int:
    from .report import audit_directory, write_report

    thresholds = {k: v for k, v in (("suspicious_below", args.suspicious_below),
                                    ("wrong_below", args.wrong_below)) if v is not None}
    start = time.perf_counter()
    inputs = audit_directory(args.directory, thresholds=thresholds or None)
    path = write_report(inputs, args.out, title=args.title)
    audit = inputs.audit
    if print_table:
        cols = ["step", "task_id", "outcome", "verdict", "score"]
        print(audit.merges[cols].to_string(index=False, na_rep="-",
                                           float_format=lambda v: f"{v:.2f}"))
        print()
    print(repr(audit))
    print(f"report: {path} ({path.stat().st_size / 1024:.0f} KiB) in "
          f"{time.perf_counter() - start:.1f} s")
    return 0


@command("audit", help="replay the recorded merges on the faces, judge each one, and write the "
                       "HTML report")
def audit(args: argparse.Namespace) -> int:
    return _run(args, print_table=True)


@command("report", help="write the full HTML audit report of a data directory")
def report(args: argparse.Namespace) -> int:
    return _run(args, print_table=False)


audit.add_arguments = _add_arguments
report.add_arguments = _add_arguments
