"""``snixbuild ingest``, ``snixbuild nar-hash`` and ``snixbuild nar-dump``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pytest_snixbuild.castore.errors import CastoreError
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nar import iter_nar_path, nar_hash_path
from pytest_snixbuild.cli.common import open_store
from pytest_snixbuild.nix.hashes import NixHash
from pytest_snixbuild.request.json_form import node_to_json


class PathNotFoundError(CastoreError):
    exit_status = 2


def _existing(path: str) -> Path:
    p = Path(path)
    if not os.path.lexists(p):
        raise PathNotFoundError(f"{path}: no such file or directory (expected an existing path)")
    return p


def cmd_ingest(args: argparse.Namespace) -> int:
    path = _existing(args.path)
    store = open_store(args.store)
    node = ingest_path(path, store)
    print(json.dumps(node_to_json(node)))
    return 0


def cmd_nar_hash(args: argparse.Namespace) -> int:
    digest, _size = nar_hash_path(_existing(args.path))
    print(NixHash("sha256", digest).to_nix32())
    return 0


def cmd_nar_dump(args: argparse.Namespace) -> int:
    path = _existing(args.path)
    out = sys.stdout.buffer
    for chunk in iter_nar_path(path):
        out.write(chunk)
    out.flush()
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "ingest",
        help="ingest a host path into a castore and print its root node as JSON",
        description="Ingest PATH (file, symlink or directory; symlinks are never followed) and "
        'print its root node as one JSON object: {"type", "digest", "size", "executable", '
        '"target"} with the fields that apply. A non-UTF-8 symlink target is shown as '
        '{"base64": ...}.',
    )
    p.add_argument("path", metavar="PATH")
    p.add_argument(
        "--store",
        metavar="DIR",
        help="on-disk castore to ingest into (created if missing); default: a throw-away "
        "in-memory store",
    )
    p.set_defaults(func=cmd_ingest)

    p = subparsers.add_parser(
        "nar-hash",
        help="print the sha256 of PATH's NAR as sha256:<nixbase32>",
        description="Print the sha256 of the NAR serialisation of PATH, as "
        "'nix-hash --type sha256 --base32 PATH' computes it, in the form of "
        "'nix-store -q --hash' (sha256:<nixbase32>).",
    )
    p.add_argument("path", metavar="PATH")
    p.set_defaults(func=cmd_nar_hash)

    p = subparsers.add_parser(
        "nar-dump",
        help="write the NAR serialisation of PATH to stdout",
        description="Write the NAR of PATH to stdout, byte for byte as 'nix-store --dump' does.",
    )
    p.add_argument("path", metavar="PATH")
    p.set_defaults(func=cmd_nar_dump)
