"""Replays every input that once broke a parser (``tests/data/fuzz/<target>/``): each must now
give the parser's documented error or a value, without hanging."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from snix_fuzz_helpers import DATA, found_inputs, outcome, read_derivation

from pytest_snixbuild.castore.encoding import decode_directory
from pytest_snixbuild.castore.errors import ValidationError
from pytest_snixbuild.castore.nar import NarError, ingest_nar
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.nix.derivation import DerivationError
from pytest_snixbuild.request.proto import ProtoDecodeError, decode_build_request
from pytest_snixbuild.request.toml_case import CaseError, load_case_text
from pytest_snixbuild.request.validation import RequestValidationError

Parse = Callable[[bytes, Path], object]

TARGETS: dict[str, tuple[Parse, tuple[type[BaseException], ...]]] = {
    "nar": (lambda data, _p: ingest_nar(io.BytesIO(data), Store.memory()), (NarError,)),
    "request": (
        lambda data, _p: decode_build_request(data),
        (ProtoDecodeError, RequestValidationError),
    ),
    "directory": (lambda data, _p: decode_directory(data), (ValidationError,)),
    "aterm": (lambda data, p: read_derivation(data, p.name), (DerivationError,)),
    "toml": (
        lambda data, p: load_case_text(data.decode("utf-8", "replace"), p, Store.memory()),
        (CaseError,),
    ),
}
FOUND = [(target, path) for target in TARGETS for path in found_inputs(target)]


def test_every_found_input_has_a_known_target() -> None:
    dirs = {p.name for p in DATA.iterdir() if p.is_dir() and p.name != "seeds"}
    assert dirs <= set(TARGETS)
    assert FOUND, "no regression inputs found"


@pytest.mark.parametrize(("target", "path"), FOUND, ids=[f"{t}/{p.name}" for t, p in FOUND])
def test_found_input(target: str, path: Path) -> None:
    parse, documented = TARGETS[target]
    outcome(lambda: parse(path.read_bytes(), path), documented)


def test_deep_nesting_is_a_case_error(tmp_path: Path) -> None:
    text = (DATA / "toml" / "deep-array.toml").read_text()
    with pytest.raises(CaseError, match=r"nested too deeply"):
        load_case_text(text, tmp_path / "deep.toml", Store.memory())
