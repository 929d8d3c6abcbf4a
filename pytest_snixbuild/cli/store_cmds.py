"""``snixbuild store verify``: check an on-disk castore and report corruption."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pytest_snixbuild.castore.verify import DEFAULT_SWEEP_AGE, verify_store

#: exit status when the store has problems
EXIT_PROBLEMS = 1


def cmd_verify(args: argparse.Namespace) -> int:
    report = verify_store(Path(args.store), sweep=args.sweep, sweep_age=args.older_than * 60.0)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        lines = report.lines()
        out = sys.stdout if report.ok else sys.stderr
        for line in lines[:-1]:
            print(line, file=out)
        print(lines[-1])
    return 0 if report.ok else EXIT_PROBLEMS


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of minutes >= 0")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    store = subparsers.add_parser(
        "store",
        help="maintain an on-disk castore (verify)",
        description="Commands for an on-disk castore.",
    )
    sub = store.add_subparsers(dest="store_command", metavar="COMMAND")
    store.set_defaults(func=lambda _args: _usage(store))
    p = sub.add_parser(
        "verify",
        help="re-hash every blob and directory, check every reference, report corruption",
        description="Re-hash every blob, re-hash and decode every directory, and check that "
        "every directory entry refers to an existing object of the recorded size. Temporary "
        "files left in tmp/ by killed writers are listed (and removed with --sweep). Exit "
        "status: 0 consistent, 1 corrupt or missing objects, 2 bad usage.",
    )
    p.add_argument("--store", metavar="DIR", default=".", help="the castore directory (default: .)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--sweep",
        "--fix",
        dest="sweep",
        action="store_true",
        help="remove stale temporary files (old enough, and their writer process is gone)",
    )
    p.add_argument(
        "--older-than",
        metavar="MINUTES",
        type=_minutes,
        default=DEFAULT_SWEEP_AGE / 60.0,
        help="a temporary file is stale only when at least this old (default: %(default)g)",
    )
    p.set_defaults(func=cmd_verify)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
