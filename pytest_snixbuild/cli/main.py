"""Entry point of ``snixbuild``: builds the parser from the command modules and maps errors.

A command module exposes ``register(subparsers)``, which adds its sub-commands and sets
``func`` on each parser; ``func(args)`` returns the exit status. Errors the user can cause are
:class:`~pytest_snixbuild.errors.SnixError` subclasses: they are printed as one readable line on
stderr (exit status 2 unless the error carries its own), never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pytest_snixbuild import __version__
from pytest_snixbuild.errors import SnixError

#: command modules, in the order their commands appear in ``--help``
COMMAND_MODULES = (
    "pytest_snixbuild.cli.castore_cmds",
    "pytest_snixbuild.cli.request_cmds",
    "pytest_snixbuild.cli.oci_cmds",
    "pytest_snixbuild.cli.build_cmds",
    "pytest_snixbuild.cli.drv_cmds",
    "pytest_snixbuild.cli.store_cmds",
    "pytest_snixbuild.cli.image_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snixbuild",
        description="Sandboxed builds in runc with a snix-compatible castore.",
    )
    parser.add_argument("--version", action="version", version=f"snixbuild {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command group is not written yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = args.func(args)
    except SnixError as exc:
        print(f"snixbuild: error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_status", 2))
    except KeyboardInterrupt:
        print("snixbuild: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
