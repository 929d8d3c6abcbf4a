"""``snixbuild drv show|paths|request|build``: Nix derivations (``.drv`` files)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pytest_snixbuild.cli.common import (
    add_limit_options,
    add_mode_options,
    add_timeout_option,
    bundle_root_for,
    command_group,
    open_store,
    terminate_as_interrupt,
)
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.nix.build import (
    DerivationBuildResult,
    DerivationFileError,
    build_derivation,
    read_derivation_file,
)
from pytest_snixbuild.nix.closure import input_closure
from pytest_snixbuild.nix.derivation import Derivation
from pytest_snixbuild.nix.derivation_json import dump_serde, dump_show_derivation
from pytest_snixbuild.nix.hashing import (
    compute_output_paths,
    derivation_path,
    fod_digest,
    hash_derivation_modulo,
    resolver_from_store_dir,
)
from pytest_snixbuild.nix.storepath import STORE_DIR, StorePath
from pytest_snixbuild.nix.to_request import derivation_to_build_request, needle_store_paths
from pytest_snixbuild.request.json_form import request_to_json

#: a derivation file named on the command line cannot be read
DrvFileError = DerivationFileError


def read_drv(file: str) -> tuple[Derivation, StorePath]:
    """Parse a ``.drv`` file; its store path is its file name when that is a store path
    basename, else the path computed from its contents."""
    return read_derivation_file(file)


def cmd_show(args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    if args.format == "serde":
        for file in args.drvs:
            out.write(dump_serde(read_drv(file)[0]))
    else:
        drvs: dict[StorePath, Derivation] = {}
        for file in args.drvs:
            drv, path = read_drv(file)
            drvs[path] = drv
        out.write(dump_show_derivation(drvs))
    out.flush()
    return 0


def cmd_paths(args: argparse.Namespace) -> int:
    drv, path = read_drv(args.drv)
    resolve = resolver_from_store_dir(Path(args.store))
    computed = derivation_path(drv)
    outputs = compute_output_paths(drv, resolve)
    fixed = fod_digest(drv)
    report: dict[str, Any] = {
        "drv_path": computed.to_absolute(),
        "drv_path_matches_file_name": computed == path,
        "hash_derivation_modulo": hash_derivation_modulo(drv, resolve).hex(),
        "fod_digest": fixed.hex() if fixed is not None else None,
        "outputs": {
            name: {
                "path": p.to_absolute(),
                "matches": drv.outputs[name].path == p,
            }
            for name, p in outputs.items()
        },
    }
    print(json.dumps(report, indent=2))
    ok = report["drv_path_matches_file_name"] and all(
        o["matches"] for o in report["outputs"].values()
    )
    return 0 if ok else 1


def cmd_request(args: argparse.Namespace) -> int:
    drv, _path = read_drv(args.drv)
    castore = open_store(args.castore)
    inputs = input_closure(drv, Path(args.store), castore, references=args.references)
    request = derivation_to_build_request(drv, inputs)
    obj = request_to_json(request)
    if args.needles:
        obj["needle_store_paths"] = [p.to_absolute() for p in needle_store_paths(drv, inputs)]
    print(json.dumps(obj, indent=2, ensure_ascii=False))
    return 0


def build_text(built: DerivationBuildResult) -> str:
    """The readable report of ``drv build``: one block per output."""
    lines = []
    for output in built.outputs:
        lines.append(f"{output.path.to_absolute()} ({output.name})")
        lines.append(f"  nar_hash    {output.nar_hash.to_nix32()}")
        lines.append(f"  nar_size    {output.nar_size}")
        refs = [ref.to_absolute() for ref in output.references] or ["(none)"]
        lines.append(f"  references  {refs[0]}")
        lines.extend(f"              {ref}" for ref in refs[1:])
    return "\n".join(lines)


def cmd_build(args: argparse.Namespace) -> int:
    castore = open_store(args.castore)
    with bundle_root_for(args.bundle_root) as bundle_root, terminate_as_interrupt():
        engine = OCIBuildService.from_store(
            bundle_root,
            castore,
            rootless=args.rootless,
            timeout=args.timeout,
            memory_limit=args.memory_limit,
            disk_limit=args.disk_limit,
            keep_failed=args.keep_failed,
        )
        built = build_derivation(
            args.drv, args.store, engine, castore, check=args.check, references=args.references
        )
    if args.json:
        print(json.dumps(built.to_json(), indent=2))
    else:
        print(build_text(built))
    if args.check:
        print(
            f"snixbuild: checked: two builds of {built.drv_path.to_absolute()} gave the same "
            "outputs",
            file=sys.stderr,
        )
    return 0


def _references_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--references",
        choices=("auto", "nix", "scan", "none"),
        default="auto",
        help="how to find the inputs' runtime closure: ask Nix's database, scan the contents, "
        "or take the direct inputs only (default auto: Nix for /nix/store, else scan)",
    )


def _store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        "--store-dir",
        dest="store",
        default=STORE_DIR,
        metavar="DIR",
        help=f"the Nix store directory holding the inputs (default {STORE_DIR}); a real Nix "
        "store or a directory of store paths",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = command_group(
        subparsers,
        "drv",
        help="read Nix derivations and turn them into build requests",
        description="Work with Nix derivations (.drv files, ATerm): show them as JSON, check "
        "their paths, turn them into BuildRequests (docs/derivations.md).",
    )

    p = sub.add_parser(
        "show",
        help="print derivations as JSON, like nix show-derivation",
        description="Parse each FILE.drv and print them as `nix show-derivation` (Nix 2.8) "
        "does, keyed by drv path; --format serde prints snix's .drv.json form instead.",
    )
    p.add_argument("drvs", nargs="+", metavar="FILE.drv")
    p.add_argument("--format", choices=("nix", "serde"), default="nix")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "paths",
        help="recompute a derivation's drv path and output paths",
        description="Compute the drv path, hashDerivationModulo and output paths of FILE.drv "
        "(input derivations are read from --store) and compare them with the file name and "
        "the recorded outputs. Exit status 1 on a mismatch.",
    )
    p.add_argument("drv", metavar="FILE.drv")
    _store_option(p)
    p.set_defaults(func=cmd_paths)

    p = sub.add_parser(
        "request",
        help="print the BuildRequest that builds a derivation, as JSON",
        description="Resolve FILE.drv's inputs (input sources, selected outputs of input "
        "derivations and their runtime closure) from the Nix store directory, ingest them into "
        "a castore and print the BuildRequest in canonical JSON.",
    )
    p.add_argument("drv", metavar="FILE.drv")
    _store_option(p)
    p.add_argument(
        "--castore",
        metavar="DIR",
        help="ingest into this on-disk castore (default: in memory)",
    )
    _references_option(p)
    p.add_argument(
        "--needles",
        action="store_true",
        help="also print needle_store_paths: the store path behind each refscan needle",
    )
    p.set_defaults(func=cmd_request)

    p = sub.add_parser(
        "build",
        help="build a derivation in runc and report its outputs as Nix would",
        description="Build FILE.drv in a runc container with its inputs (read from --store) "
        "served from the castore over FUSE, then print, for each output, its store path, NAR "
        "hash and size and its references. A fixed-output derivation's hash is checked. "
        "Exit status: 0 ok, 100 build failed, 101 timed out, 102 fixed-output hash mismatch, "
        "104 not deterministic (--check), 125 runtime error, 2 bad derivation or set-up, "
        "130 interrupted.",
    )
    p.add_argument("drv", metavar="FILE.drv")
    _store_option(p)
    p.add_argument(
        "--json",
        action="store_true",
        help='print a JSON array of {"name", "path", "nar_hash", "nar_size", "references"}',
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="build twice and fail (exit 104), naming the files that differ, unless both builds "
        "give the same outputs (like nix-build --check)",
    )
    p.add_argument(
        "--castore",
        metavar="DIR",
        help="on-disk castore for inputs and outputs (default: in memory, discarded)",
    )
    add_mode_options(p)
    add_timeout_option(p)
    add_limit_options(p)
    p.add_argument(
        "--keep-failed",
        action="store_true",
        help="keep the bundle of a failed build for inspection (its path is printed)",
    )
    p.add_argument(
        "--bundle-root",
        metavar="DIR",
        help="where bundles are created (default: a temporary directory, removed afterwards)",
    )
    _references_option(p)
    p.set_defaults(func=cmd_build)
