"""``snixbuild request show|encode|decode|check``: TOML cases, canonical JSON and snix protobuf."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.cli.common import command_group, open_store
from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.request.json_form import request_to_json
from pytest_snixbuild.request.proto import decode_build_request, encode_build_request
from pytest_snixbuild.request.toml_case import load_case


class RequestFileError(SnixError):
    """A file named on the command line cannot be read or written."""


def _store(args: argparse.Namespace) -> Store:
    return open_store(args.store)


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def cmd_show(args: argparse.Namespace) -> int:
    case = load_case(Path(args.case), _store(args))
    _print_json(request_to_json(case.request))
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    case = load_case(Path(args.case), _store(args))
    data = encode_build_request(case.request)
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    out = Path(args.output)
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RequestFileError(
            f"{out}: cannot write: {exc.strerror} (expected a writable path)"
        ) from None
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise RequestFileError(
            f"{args.file}: cannot read: {exc.strerror} (expected a BuildRequest .pb file)"
        ) from None
    try:
        request = decode_build_request(data)
    except SnixError as exc:
        raise RequestFileError(f"{args.file}: {exc}") from None
    _print_json(request_to_json(request))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    bad = 0
    for name in args.cases:
        try:
            load_case(Path(name), _store(args))
        except SnixError as exc:
            bad += 1
            print(exc, file=sys.stderr)
    total = len(args.cases)
    print(f"{total - bad} of {total} case files valid")
    return 2 if bad else 0


def _store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        metavar="DIR",
        help="on-disk castore holding (and receiving) the inputs; default: a throw-away "
        "in-memory store",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = command_group(
        subparsers,
        "request",
        help="show, check, encode and decode build requests",
        description="Work with BuildRequests: TOML case files (docs/toml-format.md), their "
        "canonical JSON form and snix's protobuf encoding (snix.build.v1.BuildRequest).",
    )

    p = sub.add_parser(
        "show",
        help="print a case's resolved request as canonical JSON",
        description="Load CASE.toml, ingest its inputs and print the request as canonical JSON, "
        "inputs as castore nodes with their digests.",
    )
    p.add_argument("case", metavar="CASE.toml")
    _store_option(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "encode",
        help="write a case's request as snix protobuf bytes",
        description="Load CASE.toml and write its BuildRequest in snix's deterministic "
        "protobuf encoding.",
    )
    p.add_argument("case", metavar="CASE.toml")
    p.add_argument("-o", "--output", required=True, metavar="FILE.pb", help="'-' for stdout")
    _store_option(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser(
        "decode",
        help="decode and validate snix protobuf bytes, print canonical JSON",
        description="Decode a BuildRequest, apply snix's validation in snix's order and print "
        "it as canonical JSON.",
    )
    p.add_argument("file", metavar="FILE.pb", help="'-' for stdin")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser(
        "check",
        help="validate case files (exit 0 if all are valid, 2 otherwise)",
        description="Load and validate each case file; print one line per invalid file on "
        "stderr and a summary on stdout. Exit status 0 when all are valid, 2 otherwise.",
    )
    p.add_argument("cases", nargs="+", metavar="CASE.toml")
    _store_option(p)
    p.set_defaults(func=cmd_check)
