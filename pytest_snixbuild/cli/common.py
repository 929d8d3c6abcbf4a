"""What several ``snixbuild`` commands share: option types, the build options, the store, the
bundle root and SIGTERM handling."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.service import RUNTIME_STATE_DIR
from pytest_snixbuild.units import parse_size


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number of seconds")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected at least 1")
    return value


def byte_size(text: str) -> int:
    """An argparse type: bytes, optionally with a K, M, G or T suffix (powers of 1024)."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """``--memory-limit`` and ``--disk-limit`` (docs/security.md), into ``args``."""
    parser.add_argument(
        "--memory-limit",
        metavar="SIZE",
        type=byte_size,
        default=None,
        help="the build's memory cgroup limit, e.g. 256M (the OOM killer ends a build that "
        "needs more; default: none)",
    )
    parser.add_argument(
        "--disk-limit",
        metavar="SIZE",
        type=byte_size,
        default=None,
        help="make each bundle a tmpfs of SIZE, e.g. 64M, so a build that writes more gets "
        "'No space left on device' (needs root; default: none)",
    )


def add_mode_options(parser: argparse.ArgumentParser) -> None:
    """``--rootless`` (the default, as snix) and ``--rootful``, into ``args.rootless``."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--rootless",
        dest="rootless",
        action="store_true",
        default=True,
        help="run the build in a user namespace (default, as snix)",
    )
    mode.add_argument(
        "--rootful",
        dest="rootless",
        action="store_false",
        help="run the build without a user namespace (needs root)",
    )


def add_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=positive_seconds,
        default=None,
        help="kill the build after S seconds (default: no timeout)",
    )


def open_store(path: str | None) -> Store:
    """The on-disk castore at ``path``, or a store in memory (discarded at exit)."""
    return Store.open(Path(path)) if path else Store.memory()


@contextlib.contextmanager
def bundle_root_for(given: str | None) -> Iterator[Path]:
    """The given bundle root, or a temporary one removed afterwards (unless a kept bundle is in
    it, whose place is then printed)."""
    if given:
        yield Path(given)
        return
    root = Path(tempfile.mkdtemp(prefix="snixbuild-bundles-"))
    try:
        yield root
    finally:
        with contextlib.suppress(OSError):
            (root / RUNTIME_STATE_DIR).rmdir()
        if any(root.iterdir()):
            print(f"snixbuild: bundles kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While building, SIGTERM raises KeyboardInterrupt, so that everything is cleaned up."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def command_group(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,
    description: str,
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """A command with sub-commands (``snixbuild drv show``…); alone it prints its help and
    exits 2. Returns the sub-command parsers to add to."""
    top = subparsers.add_parser(name, help=help, description=description)
    sub = top.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")

    def cmd_help(_args: argparse.Namespace) -> int:
        top.print_help(sys.stderr)
        return 2

    top.set_defaults(func=cmd_help)
    return sub
