"""``snixbuild drv show|paths|request``: Nix derivations (``.drv`` files)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.nix.aterm import parse_derivation
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
from pytest_snixbuild.nix.storepath import STORE_DIR, StorePath, StorePathError
from pytest_snixbuild.nix.to_request import derivation_to_build_request, needle_store_paths
from pytest_snixbuild.request.json_form import request_to_json


class DrvFileError(SnixError):
    """A derivation file named on the command line cannot be read."""


def read_drv(file: str) -> tuple[Derivation, StorePath]:
    """Parse a ``.drv`` file; its store path is its file name when that is a store path
    basename, else the path computed from its contents."""
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise DrvFileError(
            f"{file}: cannot read: {exc.strerror} (expected a derivation .drv file)"
        ) from None
    drv = parse_derivation(data, file)
    try:
        path = StorePath.from_basename(Path(file).name)
    except StorePathError:
        path = derivation_path(drv)
    return drv, path


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
    castore = Store.open(Path(args.castore)) if args.castore else Store.memory()
    inputs = input_closure(drv, Path(args.store), castore, references=args.references)
    request = derivation_to_build_request(drv, inputs)
    obj = request_to_json(request)
    if args.needles:
        obj["needle_store_paths"] = [p.to_absolute() for p in needle_store_paths(drv, inputs)]
    print(json.dumps(obj, indent=2, ensure_ascii=False))
    return 0


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
    top = subparsers.add_parser(
        "drv",
        help="read Nix derivations and turn them into build requests",
        description="Work with Nix derivations (.drv files, ATerm): show them as JSON, check "
        "their paths, turn them into BuildRequests (docs/derivations.md).",
    )
    sub = top.add_subparsers(dest="drv_command", metavar="SUBCOMMAND")

    def cmd_help(_args: argparse.Namespace) -> int:
        top.print_help(sys.stderr)
        return 2

    top.set_defaults(func=cmd_help)

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
    p.add_argument(
        "--references",
        choices=("auto", "nix", "scan", "none"),
        default="auto",
        help="how to find the inputs' runtime closure: ask Nix's database, scan the contents, "
        "or take the direct inputs only (default auto: Nix for /nix/store, else scan)",
    )
    p.add_argument(
        "--needles",
        action="store_true",
        help="also print needle_store_paths: the store path behind each refscan needle",
    )
    p.set_defaults(func=cmd_request)
