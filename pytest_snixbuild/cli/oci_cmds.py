"""``snixbuild spec`` and ``snixbuild bundle``: the OCI side of a case file, without running it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from pytest_snixbuild.cli.common import add_mode_options, open_store
from pytest_snixbuild.oci.bundle import host_output_paths, make_bundle
from pytest_snixbuild.oci.normalize import normalize_spec
from pytest_snixbuild.oci.spec import make_spec
from pytest_snixbuild.request.model import BuildRequest

#: the environment variable naming the sandbox shell (snix's compile-time setting)
SANDBOX_SHELL_ENV = "SNIX_BUILD_SANDBOX_SHELL"
DEFAULT_SANDBOX_SHELL = "/bin/busybox"


def _load_request(args: argparse.Namespace) -> BuildRequest:
    from pytest_snixbuild.request.toml_case import load_case

    store = open_store(args.store)
    return load_case(Path(args.case), store).request


def _spec(args: argparse.Namespace, request: BuildRequest) -> dict[str, Any]:
    return make_spec(
        request,
        rootless=args.rootless,
        sandbox_shell=args.sandbox_shell,
        cgroups_path=args.cgroups_path,
    )


def cmd_spec(args: argparse.Namespace) -> int:
    spec = _spec(args, _load_request(args))
    if args.normalized:
        spec = normalize_spec(spec)
    print(json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False))
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    request = _load_request(args)
    bundle = make_bundle(request, _spec(args, request), Path(args.dir))
    summary = {
        "bundle": str(bundle.path),
        "config": str(bundle.config_path),
        "inputs": str(bundle.inputs_dir),
        "root": str(bundle.root_dir),
        "scratch": {p: str(d) for p, d in bundle.scratch_dirs.items()},
        "outputs": {o: str(h) for o, h in host_output_paths(request, bundle.path).items()},
    }
    print(json.dumps(summary, indent=2))
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case", metavar="CASE.toml", help="the case file")
    add_mode_options(parser)
    parser.add_argument(
        "--store", metavar="DIR", help="castore directory for the case's inputs (default: memory)"
    )
    parser.add_argument(
        "--sandbox-shell",
        metavar="PATH",
        default=os.environ.get(SANDBOX_SHELL_ENV) or DEFAULT_SANDBOX_SHELL,
        help=f"host file mounted at /bin/sh (default: ${SANDBOX_SHELL_ENV} or "
        f"{DEFAULT_SANDBOX_SHELL})",
    )
    parser.add_argument(
        "--cgroups-path", metavar="PATH", help="linux.cgroupsPath (default: a fresh one)"
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    spec = subparsers.add_parser(
        "spec",
        help="print the OCI runtime config.json of a case",
        description="Print the OCI runtime config.json a case's request becomes "
        "(pretty, keys sorted).",
    )
    _common(spec)
    spec.add_argument(
        "--normalized",
        action="store_true",
        help="replace host uids/gids, the cgroups path and the sandbox shell with placeholders",
    )
    spec.set_defaults(func=cmd_spec)

    bundle = subparsers.add_parser(
        "bundle",
        help="write the OCI bundle of a case (inputs not mounted)",
        description="Write the bundle (config.json, root/, inputs/, scratch/) of a case into "
        "DIR, which must not exist or be empty, and print where everything is.",
    )
    _common(bundle)
    bundle.add_argument("dir", metavar="DIR", help="the bundle directory to create")
    bundle.set_defaults(func=cmd_bundle)
