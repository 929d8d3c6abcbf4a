"""Coverage-guided fuzzing of the parsers with atheris (libFuzzer for Python). Not a test.

    .venv/bin/pip install atheris
    .venv/bin/python scripts/fuzz_atheris.py nar --seconds 300 [--out DIR] [libFuzzer flags…]

Targets: ``nar`` (``ingest_nar``), ``request`` (``decode_build_request``), ``directory``
(``decode_directory``), ``aterm`` (``parse_derivation``), ``toml`` (``load_case_text``). Each input
must parse or raise the parser's documented error (see tests/fuzz); anything else is a crash, and
an input that takes longer than ``--timeout`` seconds is a hang. libFuzzer writes such inputs to
``--out`` (default ``/tmp/snix-fuzz``) as ``<target>-crash-…`` / ``<target>-timeout-…``: copy
them into ``tests/data/fuzz/<target>/``, where ``tests/fuzz/test_fuzz_regressions.py`` replays
them.

The corpus (``<out>/corpus-<target>``, kept between runs) starts from ``tests/data/fuzz/seeds``
plus the inputs already in ``tests/data/fuzz/<target>/``; nothing in the repository is written.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

try:
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - optional tool
    sys.exit("atheris is not installed: .venv/bin/pip install atheris")

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "fuzz"
SUFFIXES = {"nar": ".nar", "request": ".pb", "directory": ".dir", "aterm": ".drv", "toml": ".toml"}

with atheris.instrument_imports(include=["pytest_snixbuild"]):
    from pytest_snixbuild.castore.encoding import decode_directory
    from pytest_snixbuild.castore.errors import ValidationError
    from pytest_snixbuild.castore.nar import NarError, ingest_nar
    from pytest_snixbuild.castore.store import Store
    from pytest_snixbuild.nix.aterm import parse_derivation
    from pytest_snixbuild.nix.derivation import DerivationError
    from pytest_snixbuild.nix.structured_attrs import parse_structured_attrs
    from pytest_snixbuild.request.proto import ProtoDecodeError, decode_build_request
    from pytest_snixbuild.request.toml_case import CaseError, load_case_text
    from pytest_snixbuild.request.validation import RequestValidationError

#: where a fuzzed case file pretends to be (an empty directory; set in main)
CASE_PATH = Path("/nonexistent/fuzz.toml")


def _nar(data: bytes) -> None:
    with contextlib.suppress(NarError):
        ingest_nar(io.BytesIO(data), Store.memory())


def _request(data: bytes) -> None:
    with contextlib.suppress(ProtoDecodeError, RequestValidationError):
        decode_build_request(data)


def _directory(data: bytes) -> None:
    with contextlib.suppress(ValidationError):
        decode_directory(data)


def _aterm(data: bytes) -> None:
    with contextlib.suppress(DerivationError):
        drv = parse_derivation(data, "fuzz.drv")
        with contextlib.suppress(DerivationError):
            _ = drv.name  # may parse the structured attrs' JSON
        with contextlib.suppress(DerivationError):
            parse_structured_attrs(drv.structured_attrs or b"{}")


def _toml(data: bytes) -> None:
    with contextlib.suppress(CaseError):
        load_case_text(data.decode("utf-8", "replace"), CASE_PATH, Store.memory())


TARGETS: dict[str, Callable[[bytes], None]] = {
    "nar": _nar,
    "request": _request,
    "directory": _directory,
    "aterm": _aterm,
    "toml": _toml,
}


def main() -> None:
    global CASE_PATH
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--seconds", type=int, default=120, help="total fuzzing time")
    parser.add_argument("--timeout", type=int, default=10, help="seconds before an input hangs")
    parser.add_argument("--out", default="/tmp/snix-fuzz", help="corpus and crashing inputs")
    args, libfuzzer = parser.parse_known_args()
    out = Path(args.out).absolute()
    corpus = out / f"corpus-{args.target}"
    corpus.mkdir(parents=True, exist_ok=True)
    empty = out / "case-dir"
    empty.mkdir(exist_ok=True)
    CASE_PATH = empty / "fuzz.toml"
    for seed in sorted((DATA / "seeds").glob(f"*{SUFFIXES[args.target]}")):
        shutil.copy(seed, corpus / seed.name)
    found = DATA / args.target
    if found.is_dir():
        for known in found.iterdir():
            if known.is_file() and known.name != "README.md":
                shutil.copy(known, corpus / f"known-{known.name}")
    argv = [
        sys.argv[0],
        *libfuzzer,
        f"-max_total_time={args.seconds}",
        f"-timeout={args.timeout}",
        f"-artifact_prefix={out}/{args.target}-",
        "-print_final_stats=1",
        str(corpus),
    ]
    atheris.Setup(argv, TARGETS[args.target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
