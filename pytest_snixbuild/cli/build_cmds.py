"""``snixbuild build CASE.toml``: run a case's request in runc and check its ``[expect]`` table.

Exit status: 0 when the build met its expectations (or, without ``[expect]``, succeeded); 1 when
an expectation is not met (a readable diff goes to stderr); a failed build without ``[expect]``
exits with its error's status (100 failed, 101 timed out, 125 runtime error) after a one-line
reason and the tail of the build's stderr; 2 for a bad case file or set-up; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_snixbuild.castore.nar import nar_hash
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.cli.common import (
    add_limit_options,
    add_mode_options,
    add_timeout_option,
    bundle_root_for,
    open_store,
    terminate_as_interrupt,
)
from pytest_snixbuild.engine.errors import BuildError
from pytest_snixbuild.engine.expect import check_expectations, format_nar_hash, format_report
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.request.json_form import node_to_json
from pytest_snixbuild.request.model import BuildResult
from pytest_snixbuild.request.toml_case import load_case

BUILD_LOGGERS = ("pytest_snixbuild.build.stdout", "pytest_snixbuild.build.stderr")


def result_json(result: BuildResult, store: Store) -> dict[str, Any]:
    """``{"outputs": [{"path", "node", "needles", "nar_hash"}]}`` for ``--json``."""
    return {
        "outputs": [
            {
                "path": output.path,
                "node": node_to_json(output.node),
                "needles": list(output.needles),
                "nar_hash": format_nar_hash(nar_hash(output.node, store)[0]),
            }
            for output in result.outputs
        ]
    }


def result_text(result: BuildResult, needles: tuple[str, ...], store: Store) -> str:
    """A short human summary of a successful build."""
    lines = [f"built {len(result.outputs)} output(s) in {result.duration:.2f} s"]
    for output in result.outputs:
        node = output.node
        lines.append(f"  /{output.path}")
        if node.kind == "symlink":
            lines.append(f"    symlink -> {node.target.decode('utf-8', errors='replace')}")
        else:
            lines.append(f"    {node.kind} {node.digest}")
        lines.append(f"    nar_hash {format_nar_hash(nar_hash(node, store)[0])}")
        found = ", ".join(needles[i] for i in output.needles) or "none"
        lines.append(f"    needles: {found}")
    return "\n".join(lines)


def failure_text(error: BuildError) -> str:
    """One line of reason, then the tail of the build's stderr (or stdout)."""
    lines = [f"snixbuild: {error.reason}"]
    if error.bundle_path is not None:
        lines.append(f"snixbuild: bundle kept for inspection at {error.bundle_path}")
    if error.stderr_tail:
        lines.append("--- last lines of the build's stderr ---")
        lines.append(error.stderr_tail)
    elif error.stdout_tail:
        lines.append("--- last lines of the build's stdout ---")
        lines.append(error.stdout_tail)
    return "\n".join(lines)


@contextlib.contextmanager
def _stream_build_logs(verbose: bool) -> Iterator[None]:
    if not verbose:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in BUILD_LOGGERS]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, (level, propagate) in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
            lg.propagate = propagate


def cmd_build(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    case = load_case(Path(args.case), store)
    with (
        bundle_root_for(args.bundle_root) as bundle_root,
        terminate_as_interrupt(),
        _stream_build_logs(args.verbose),
    ):
        service = OCIBuildService.from_store(
            bundle_root,
            store,
            rootless=args.rootless,
            keep_failed=args.keep_failed,
            timeout=args.timeout,
            memory_limit=args.memory_limit,
            disk_limit=args.disk_limit,
            runtime=args.runtime,
            sandbox_shell=args.sandbox_shell,
        )
        outcome: BuildResult | BuildError
        try:
            outcome = service.build(case.request)
        except BuildError as exc:
            outcome = exc
    if case.expect is not None:
        problems = check_expectations(case.expect, case.request, outcome, store)
        if problems:
            print(format_report(str(args.case), problems), file=sys.stderr)
            return 1
        if isinstance(outcome, BuildError):
            print(f"snixbuild: ok: the build failed as expected: {outcome.reason}")
            return 0
    elif isinstance(outcome, BuildError):
        print(failure_text(outcome), file=sys.stderr)
        return int(outcome.exit_status)
    assert isinstance(outcome, BuildResult)
    if args.json:
        print(json.dumps(result_json(outcome, store), indent=2))
    else:
        print(result_text(outcome, case.request.refscan_needles, store))
        if case.expect is not None:
            print("expectations: ok")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "build",
        help="run a TOML case in runc and check its [expect] table",
        description="Build the request of CASE.toml in a runc container, with its inputs served "
        "from the castore over FUSE, ingest and scan its outputs, and check the case's [expect] "
        "table. Exit status: 0 ok, 1 expectation not met, 100 build failed, 101 timed out, "
        "125 runtime error, 2 bad case or set-up, 130 interrupted.",
    )
    p.add_argument("case", metavar="CASE.toml", help="the case file")
    p.add_argument(
        "--store",
        metavar="DIR",
        help="on-disk castore for inputs and outputs (default: in memory, discarded)",
    )
    add_mode_options(p)
    p.add_argument(
        "--keep-failed",
        action="store_true",
        help="keep the bundle of a failed build for inspection (its path is printed)",
    )
    add_timeout_option(p)
    add_limit_options(p)
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"outputs": [{"path", "node", "needles", "nar_hash"}]} on success',
    )
    p.add_argument(
        "--bundle-root",
        metavar="DIR",
        help="where bundles are created (default: a temporary directory, removed afterwards)",
    )
    p.add_argument("--runtime", default="runc", help="the OCI runtime binary (default: runc)")
    p.add_argument(
        "--sandbox-shell",
        metavar="PATH",
        help="static shell mounted at /bin/sh (default: a static busybox found on the host)",
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="stream the build's output to stderr"
    )
    p.set_defaults(func=cmd_build)
