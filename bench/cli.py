"""``python -m bench``: run the rows, print the table, write docs/performance.md."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

from bench import machine
from bench.context import Context
from bench.measure import load1
from bench.report import Result, section, table, write_generated

#: row name -> module (each has ``run(ctx) -> Result``), in table order
ROWS: dict[str, str] = {
    "trivial": "bench.row_trivial",
    "drv": "bench.row_drv",
    "suite": "bench.row_suite",
    "read": "bench.row_read",
    "small": "bench.row_small",
    "ingest": "bench.row_ingest",
    "tree": "bench.row_tree",
    "refscan": "bench.row_refscan",
    "nar": "bench.row_nar",
    "rss": "bench.row_rss",
}
DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer runs (< 1 min)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated rows to run (of: {', '.join(ROWS)})"
    )
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (every row)")
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave docs/performance.md alone"
    )
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=None,
        metavar="LOAD",
        help="before each row, wait (up to 10 min) until the 1-minute load is below LOAD",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show every sample")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(ROWS)
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}: expected some of {', '.join(ROWS)}")
    if args.runs is not None and args.runs < 1:
        parser.error(f"--runs {args.runs}: expected at least 1")
    args.names = names
    return args


def wait_for_quiet(limit: float, patience: float = 600.0) -> None:
    """Sleep until the 1-minute load average drops below ``limit`` (other jobs on a shared
    machine), for at most ``patience`` seconds."""
    deadline = time.monotonic() + patience
    if load1() >= limit:
        print(f"  (waiting for the load {load1():.2f} to drop below {limit})", flush=True)
    while load1() >= limit and time.monotonic() < deadline:
        time.sleep(5)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("python -m bench: needs root (runc, FUSE, Nix's sandbox)", file=sys.stderr)
        return 2
    ctx = Context(quick=args.quick, runs_override=args.runs, verbose=args.verbose)
    mode = "quick" if args.quick else "full"
    print(f"bench ({mode}): {', '.join(args.names)}; load {load1():.2f}", flush=True)
    started = time.monotonic()
    results: list[Result] = []
    failed = []
    for name in args.names:
        if args.quiet_below is not None:
            wait_for_quiet(args.quiet_below)
        row_started = time.monotonic()
        try:
            result = importlib.import_module(ROWS[name]).run(ctx)
        except Exception:  # a broken row must not hide the others
            traceback.print_exc()
            failed.append(name)
            continue
        results.append(result)
        print(f"{table([result]).splitlines()[-1]}  ({time.monotonic() - row_started:.0f} s)")
        sys.stdout.flush()
    elapsed = time.monotonic() - started
    print()
    print(table(results))
    if failed:
        print(f"rows that failed: {', '.join(failed)}", file=sys.stderr)
    complete = not failed and args.names == list(ROWS) and args.runs is None
    if results and complete and not args.no_write:
        title = "Quick run (`make bench-quick`)" if args.quick else "Full run (`make bench`)"
        write_generated(DOC, mode, section(title, machine.describe(), results, elapsed))
        print(f"written to {DOC}")
    elif not args.no_write:
        print("(a partial run: docs/performance.md left alone)")
    return 1 if failed else 0
